// Package generate simulates omnichannel customers and renders what they do
// as the Kafka records real producers would write: Segment Spec messages
// (track, identify, page, screen, alias) and CloudEvents (structured and
// binary mode), keyed by userId else anonymousId.
//
// Customers move across channels the way people do: they browse on the web
// and in the app, add to a cart and leave, open an email and come back,
// tap a push notification, call the call centre (and sometimes fail to get
// through), buy in a store, like, share, comment and review, answer
// surveys; some are anonymous at first and identify (and alias) later.
// Every record passes journey's decoder (pkg/ingest) when the CloudEvents
// types of CloudEventTypes are mapped, and the mix makes every trigger
// processor fire: interest, cart abandonment, service recovery, engagement
// tiers and dormancy, with channel preferences and consent for the contact
// policy to act on.
//
// A Generator is a pure function of its Config (the seed included) and of
// the times passed to Next: the same seed and the same times give the same
// records, byte for byte. Produce writes a generator's records to Kafka at a
// given rate.
package generate

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Config configures a Generator. The zero value is usable: every zero
// field takes its default.
type Config struct {
	// Customers is the number of simulated customers (default 1000).
	Customers int
	// Seed makes the simulation reproducible: the same seed gives the same
	// customers, visits and records (message ids included, so a second run
	// with the same seed against the same journey is de-duplicated within
	// its ingest.dedup_window).
	Seed uint64
	// Think is the mean pause between two actions of a customer within a
	// visit (default 2s).
	Think time.Duration
	// Away is the mean time after which a customer who left in the middle
	// of something (an open cart, a purchase to review) comes back
	// (default 90s).
	Away time.Duration
}

// Defaults of Config.
const (
	DefaultCustomers = 1000
	DefaultThink     = 2 * time.Second
	DefaultAway      = 90 * time.Second
	maxCustomers     = 10_000_000
)

func (c *Config) setDefaults() {
	if c.Customers == 0 {
		c.Customers = DefaultCustomers
	}
	if c.Think == 0 {
		c.Think = DefaultThink
	}
	if c.Away == 0 {
		c.Away = DefaultAway
	}
}

// Validate reports every invalid field, by name.
func (c Config) Validate() error {
	var errs []error
	if c.Customers < 0 || c.Customers > maxCustomers {
		errs = append(errs, fmt.Errorf("generate: Customers is %d, want 1 to %d (0 for the default)", c.Customers, maxCustomers))
	}
	if c.Think < 0 {
		errs = append(errs, fmt.Errorf("generate: Think is %s, want >= 0", c.Think))
	}
	if c.Away < 0 {
		errs = append(errs, fmt.Errorf("generate: Away is %s, want >= 0", c.Away))
	}
	return errors.Join(errs...)
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one Kafka record as a producer would write it.
type Message struct {
	// Key is the customer: userId, else anonymousId (the CloudEvents
	// subject); nil for one Segment message in twenty, as a server-side
	// source that keys nothing sends it.
	Key   []byte
	Value []byte
	// Headers carry the content type of a structured CloudEvent and the
	// ce_* attributes of a binary-mode one.
	Headers []Header
	// Time is the event time (also the record timestamp).
	Time time.Time
	// Name is what the record is, for reports: the track event's name
	// ("Product Viewed") or the call type ("identify", "page").
	Name string
}

// Generator simulates the customers. It is not safe for concurrent use.
type Generator struct {
	cfg       Config
	rnd       *rand.Rand
	customers []*customer
	idle      []*customer // customers with nothing scheduled
	queue     schedule    // customers with a next step, by due time
	seq       uint64      // records generated; names message ids
	pushes    uint64      // orders customers due at the same time
}

// New returns a generator for cfg.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	g := &Generator{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, 0x6a6f75726e6579))}
	g.customers = make([]*customer, cfg.Customers)
	for i := range g.customers {
		c := g.newCustomer(i)
		g.customers[i] = c
		g.idle = append(g.idle, c)
	}
	return g, nil
}

// Config returns the generator's configuration, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Next returns the next record, stamped now. The customer whose next
// action is due first acts; when nobody's is due, an idle customer starts
// a visit; when nobody is idle, the customer due first acts early. So the
// rate at which Next is called sets how many customers are active at once.
func (g *Generator) Next(now time.Time) Message {
	now = now.UTC()
	for {
		if len(g.queue) > 0 && !g.queue[0].due.After(now) {
			break
		}
		if len(g.idle) == 0 {
			break
		}
		i := g.rnd.IntN(len(g.idle))
		c := g.idle[i]
		g.idle[i] = g.idle[len(g.idle)-1]
		g.idle = g.idle[:len(g.idle)-1]
		g.startVisit(c, g.pickVisit(c))
		g.push(c, now)
	}
	c := heap.Pop(&g.queue).(*customer)
	if len(c.steps) == 0 { // a return visit is due
		g.startVisit(c, c.next)
		c.next = nil
	}
	st := c.steps[0]
	c.steps = c.steps[1:]
	m := st.emit(g, c, now)
	m.Time = now
	switch {
	case len(c.steps) > 0:
		g.push(c, now.Add(g.jitter(g.cfg.Think*time.Duration(max(c.steps[0].pause, 1)))))
	case c.next != nil:
		g.push(c, now.Add(g.jitter(g.cfg.Away)))
	default:
		g.idle = append(g.idle, c)
	}
	return m
}

// jitter returns a duration uniformly within ±50% of d.
func (g *Generator) jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + g.rnd.Float64()))
}

func (g *Generator) push(c *customer, due time.Time) {
	g.pushes++
	c.due, c.order = due, g.pushes
	heap.Push(&g.queue, c)
}

// nextID returns a new message id: deterministic, unique within a run.
func (g *Generator) nextID() string {
	g.seq++
	return fmt.Sprintf("g%d-%d", g.cfg.Seed, g.seq)
}

// schedule is a min-heap of customers by due time, then push order.
type schedule []*customer

func (s schedule) Len() int { return len(s) }
func (s schedule) Less(i, j int) bool {
	if !s[i].due.Equal(s[j].due) {
		return s[i].due.Before(s[j].due)
	}
	return s[i].order < s[j].order
}
func (s schedule) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)   { *s = append(*s, x.(*customer)) }
func (s *schedule) Pop() any {
	old := *s
	c := old[len(old)-1]
	*s = old[:len(old)-1]
	return c
}
