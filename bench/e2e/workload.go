package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/bench/peers/workload"
)

// categories are the product categories views and orders are spread over.
var categories = [...]string{
	"Footwear/Winter Boots", "Footwear/Sneakers", "Footwear/Sandals", "Outerwear/Parkas", "Outerwear/Rain Jackets",
	"Knitwear/Sweaters", "Tops/T-Shirts", "Tops/Shirts", "Bottoms/Jeans", "Bottoms/Chinos",
	"Dresses", "Accessories/Hats", "Accessories/Scarves", "Accessories/Gloves", "Accessories/Belts",
	"Bags/Backpacks", "Bags/Totes", "Jewellery/Watches", "Jewellery/Rings", "Beauty/Skincare",
	"Beauty/Fragrance", "Home/Bedding", "Home/Kitchen", "Home/Lighting", "Sport/Running",
	"Sport/Yoga", "Sport/Cycling", "Kids/Toys", "Kids/Clothing", "Electronics/Headphones",
}

var brands = [...]string{"Northway", "Fjellstad", "Camber", "Oakridge", "Lumen", "Tidewater", "Parsec", "Hollis"}

const userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

// The event mix, as cumulative shares.
const (
	shareViewed  = 0.65
	sharePage    = shareViewed + 0.10
	shareAdded   = sharePage + 0.08
	shareOrder   = shareAdded + 0.04
	shareIdent   = shareOrder + 0.05
	shareOpened  = shareIdent + 0.05
	productsPerC = 200 // products per category
)

// gen generates the workload. It is a pure function of the seed and its
// clock (workloadClock): the producer sends each partition's events in
// generation order, so the topic itself (every partition's sequence of
// records, and so the state and triggers journey folds from it) depends
// only on them, and the triggers only on the seed.
type gen struct {
	rnd       *rand.Rand
	customers int
	events    int // events to generate (spreads arrivals and event times)
	arrived   int // customers that had their first event
	i         int // events generated
	idPrefix  string
	zone      string    // every event's context.timezone (workloadClock)
	from, to  time.Time // event times: spread from..to in generation order
	buf       []byte
	// known[c]: customer c, one of the anonymousShare who start
	// anonymous, identified (its first identify). Until then its events
	// carry only its anonymous id and are keyed by it.
	known []bool
	anon  bool // the event being written is anonymous
}

// anonymousShare is the share of customers who start anonymous (-anonymous).
var anonymousShare = 0.4

// startsAnonymous reports whether customer c is one of the anonymousShare
// (by a hash of c, not the random sequence, so the rest of the workload
// does not depend on the share).
func startsAnonymous(c int) bool {
	h := uint64(c)*0xD6E8FEB86659FD93 + 0x9E3779B97F4A7C15
	h ^= h >> 32
	return float64(h%10000) < anonymousShare*10000
}

func newGen(seed uint64, customers, events int, idPrefix, zone string, from, to time.Time) *gen {
	return &gen{
		rnd: rand.New(rand.NewPCG(seed, 0x6a6f75726e6579)), customers: customers, events: events,
		idPrefix: idPrefix, zone: zone, from: from, to: to, known: make([]bool, customers),
	}
}

// workloadClock returns the bulk workload's event times, the four hours
// before now, and the time zone every event names (context.timezone), for
// a bench started at now.
//
// Event times stay on the wall clock, as journey meets them in production:
// the Kafka records are stamped at append (LogAppendTime) and live
// partitions' watermarks follow the wall clock (timers.idle_advance), so
// an event dated far from now would not be folded as a live one is. One
// dated in the future past ingest.max_future is dead-lettered, and
// timers.max_skew caps how far it moves the watermark; one dated days back
// is behind the watermark the idle partitions reach by the wall clock once
// caught up, which fires every timer of the gap at once; and live events
// dated now after a bulk dated days back would expire its whole dedup
// window in their first round. So the hour is made irrelevant through the
// zone instead: a fixed-offset zone (Etc/GMT±N) in which now is 15:MM
// local (workload.AfternoonZone, shared with bench/scale). The bulk then
// spans 11:MM-15:MM local and the latency phase's events, dated as they
// are sent, follow minutes later — all at least five hours from the
// contact policy's quiet hours (21:00 to 08:00 by default), where a night
// run held every email trigger (0 triggers delivered at 05:56 UTC). The
// local times, and so every trigger, are the same whatever the hour (up to
// the minutes past it); TestWorkloadAnyHour checks it.
func workloadClock(now time.Time) (from, to time.Time, zone string) {
	return now.Add(-4 * time.Hour), now, workload.AfternoonZone(now)
}

// customer picks the next event's customer. Customers arrive evenly over
// the events (so every one has at least one event). 90% of the other events
// go to known customers skewed towards the recent arrivals (sessions: a
// customer's events cluster in time), 10% to the loyal ones (every 20th
// customer), who so have about three times the average.
func (g *gen) customer() int {
	if g.arrived < g.customers && g.i*g.customers >= g.arrived*g.events {
		g.arrived++
		return g.arrived - 1
	}
	if g.rnd.IntN(10) == 0 {
		return g.rnd.IntN((g.arrived+19)/20) * 20
	}
	u := g.rnd.Float64()
	return g.arrived - 1 - int(float64(g.arrived)*u*u)
}

// eventTime spreads event times over from..to in generation order, with up
// to 30s of jitter backwards (out-of-order arrivals).
func (g *gen) eventTime() time.Time {
	span := g.to.Sub(g.from)
	t := g.from.Add(time.Duration(float64(span) * float64(g.i) / float64(max(g.events, 1))))
	return t.Add(-time.Duration(g.rnd.Int64N(int64(30 * time.Second))))
}

// favourite returns one of a customer's three favourite categories: 70% of
// their views and purchases go to them, so interest triggers fire.
func favourite(cust, k int) int {
	h := uint64(cust)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return int((h >> (uint(k) * 16)) % uint64(len(categories)))
}

func (g *gen) category(cust int) int {
	if g.rnd.Float64() < 0.7 {
		return favourite(cust, g.rnd.IntN(3))
	}
	return g.rnd.IntN(len(categories))
}

// next returns the next event's key (the customer id) and value. The value
// is only valid until the next call.
func (g *gen) next(at time.Time) (key string, value []byte) {
	cust := g.customer()
	key = custID(cust)
	g.anon = startsAnonymous(cust) && !g.known[cust]
	if at.IsZero() {
		at = g.eventTime()
	}
	g.i++
	b := g.buf[:0]
	id := g.idPrefix + strconv.Itoa(g.i)
	channel := "web"
	if g.rnd.IntN(5) < 2 {
		channel = "app"
	}
	switch u := g.rnd.Float64(); {
	case u < shareViewed:
		c := g.category(cust)
		n := g.rnd.IntN(productsPerC)
		b = g.track(b, "Product Viewed", id, key, at)
		b = append(b, `,"properties":{"product_id":"`...)
		b = appendSKU(b, c, n)
		b = append(b, `","category":"`...)
		b = append(b, categories[c]...)
		b = append(b, `","name":"Product `...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, `","brand":"`...)
		b = append(b, brands[(c+n)%len(brands)]...)
		b = append(b, `","price":`...)
		b = appendPrice(b, c, n)
		b = append(b, `,"currency":"EUR","position":`...)
		b = strconv.AppendInt(b, int64(g.rnd.IntN(24)+1), 10)
		b = append(b, `,"url":"https://shop.example/p/`...)
		b = appendSKU(b, c, n)
		b = append(b, `"}`...)
		b = appendContext(b, channel, g.zone, "/p/", c, n)
	case u < sharePage:
		c := g.category(cust)
		b = append(b, `{"type":"page","name":"Category","messageId":"`...)
		b = append(b, id...)
		b = g.appendUser(b, key, at)
		b = append(b, `,"properties":{"path":"/c/`...)
		b = strconv.AppendInt(b, int64(c), 10)
		b = append(b, `","title":"`...)
		b = append(b, categories[c]...)
		b = append(b, `","url":"https://shop.example/c/`...)
		b = strconv.AppendInt(b, int64(c), 10)
		b = append(b, `"}`...)
		b = appendContext(b, "web", g.zone, "/c/", c, -1)
	case u < shareAdded:
		c := g.category(cust)
		n := g.rnd.IntN(productsPerC)
		b = g.track(b, "Product Added", id, key, at)
		b = append(b, `,"properties":{"cart_id":"cart-`...)
		b = append(b, key...)
		b = append(b, `","product_id":"`...)
		b = appendSKU(b, c, n)
		b = append(b, `","category":"`...)
		b = append(b, categories[c]...)
		b = append(b, `","price":`...)
		b = appendPrice(b, c, n)
		b = append(b, `,"quantity":1,"currency":"EUR"}`...)
		b = appendContext(b, channel, g.zone, "/p/", c, n)
	case u < shareOrder:
		b = g.track(b, "Order Completed", id, key, at)
		b = append(b, `,"properties":{"order_id":"ord-`...)
		b = append(b, id...)
		b = append(b, `","cart_id":"cart-`...)
		b = append(b, key...)
		b = append(b, `","currency":"EUR","products":[`...)
		items := 1 + g.rnd.IntN(3)
		for k := range items {
			c, n := g.category(cust), g.rnd.IntN(productsPerC)
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"product_id":"`...)
			b = appendSKU(b, c, n)
			b = append(b, `","category":"`...)
			b = append(b, categories[c]...)
			b = append(b, `","price":`...)
			b = appendPrice(b, c, n)
			b = append(b, `,"quantity":1}`...)
		}
		b = append(b, `],"total":`...)
		b = strconv.AppendInt(b, int64(items*40+g.rnd.IntN(100)), 10)
		b = append(b, `}`...)
		b = appendContext(b, channel, g.zone, "/checkout/", -1, -1)
	case u < shareIdent:
		g.anon, g.known[cust] = false, true // logs in: both ids, keyed by the user id
		b = append(b, `{"type":"identify","messageId":"`...)
		b = append(b, id...)
		b = g.appendUser(b, key, at)
		b = append(b, `,"traits":{"plan":"`...)
		b = append(b, [...]string{"free", "silver", "gold"}[cust%3]...)
		b = append(b, `","email":"`...)
		b = append(b, key...)
		b = append(b, `@example.com"},"context":{"channel":"`...)
		b = append(b, channel...)
		b = append(b, `","consent":{"categoryPreferences":{"email":true,"advertising":false}}}}`...)
	default:
		event := "Email Opened"
		if u >= shareOpened {
			event = "Email Link Clicked"
		}
		campaign := g.rnd.IntN(40)
		b = g.track(b, event, id, key, at)
		b = append(b, `,"properties":{"email_id":"em-`...)
		b = strconv.AppendInt(b, int64(campaign), 10)
		b = append(b, '-')
		b = append(b, key...)
		b = append(b, `","campaign_id":"cmp-`...)
		b = strconv.AppendInt(b, int64(campaign), 10)
		b = append(b, `","campaign_name":"Weekly picks `...)
		b = strconv.AppendInt(b, int64(campaign), 10)
		if event == "Email Link Clicked" {
			b = append(b, `","link_url":"https://shop.example/c/`...)
			b = strconv.AppendInt(b, int64(favourite(cust, 0)), 10)
		}
		b = append(b, `"},"context":{"channel":"email"}}`...)
	}
	g.buf = b
	if g.anon {
		return "anon-" + key[5:], b
	}
	return key, b
}

func custID(c int) string {
	var b [16]byte
	s := strconv.AppendInt(b[:0], int64(c), 10)
	out := make([]byte, 0, 13)
	out = append(out, "cust-"...)
	for range 7 - len(s) {
		out = append(out, '0')
	}
	return string(append(out, s...))
}

func (g *gen) track(b []byte, event, id, key string, at time.Time) []byte {
	b = append(b, `{"type":"track","event":"`...)
	b = append(b, event...)
	b = append(b, `","messageId":"`...)
	b = append(b, id...)
	return g.appendUser(b, key, at)
}

// appendUser closes the messageId and adds userId (unless the event is
// anonymous), anonymousId and timestamp.
func (g *gen) appendUser(b []byte, key string, at time.Time) []byte {
	if !g.anon {
		b = append(b, `","userId":"`...)
		b = append(b, key...)
	}
	b = append(b, `","anonymousId":"anon-`...)
	b = append(b, key[5:]...)
	b = append(b, `","timestamp":"`...)
	b = at.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	return append(b, '"')
}

func appendContext(b []byte, channel, zone, path string, c, n int) []byte {
	b = append(b, `,"context":{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","timezone":"`...)
	b = append(b, zone...)
	b = append(b, `","page":{"path":"`...)
	b = append(b, path...)
	if c >= 0 {
		if n >= 0 {
			b = appendSKU(b, c, n)
		} else {
			b = strconv.AppendInt(b, int64(c), 10)
		}
	}
	b = append(b, `"},"userAgent":"`...)
	b = append(b, userAgent...)
	return append(b, `"}}`...)
}

func appendSKU(b []byte, c, n int) []byte {
	b = append(b, "sku-"...)
	b = strconv.AppendInt(b, int64(c), 10)
	b = append(b, '-')
	return strconv.AppendInt(b, int64(n), 10)
}

func appendPrice(b []byte, c, n int) []byte {
	return strconv.AppendFloat(b, float64(9+(c*37+n*13)%300)+0.9, 'f', 2, 64)
}

// produceResult is what the bulk producer reports.
type produceResult struct {
	Events    int     `json:"events"`
	Customers int     `json:"customers"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"events_per_second"`
	MBPerSec  float64 `json:"mb_per_second"`
	CPU       cpuUse  `json:"cpu"`
}

// produce writes the workload dated by workloadClock (events in zone) to
// topic (acks=1, large batches): one
// generator, and one sender per partition so that every partition receives
// its events in generation order. It checks each partition ends up holding
// exactly the events meant for it.
func produce(ctx context.Context, brokers []string, topic string, seed uint64, events, customers, partitions int,
	zone string, from, to time.Time) (produceResult, error) {
	const chunk = 2_000
	bal := &kafka.Murmur2Balancer{Consistent: true}
	w := &kafka.Writer{
		Addr: kafka.TCP(brokers...), Topic: topic, Balancer: bal, RequiredAcks: kafka.RequireOne,
		BatchSize: chunk, BatchBytes: 1 << 20, BatchTimeout: 20 * time.Millisecond, Transport: &kafka.Transport{},
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu := startCPU()
	start := time.Now()
	queues := make([]chan []kafka.Message, partitions)
	errs := make(chan error, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		queues[p] = make(chan []kafka.Message, 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msgs := range queues[p] {
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					errs <- fmt.Errorf("partition %d: %w", p, err)
					cancel()
					for range queues[p] { // let the generator finish
					}
					return
				}
			}
		}()
	}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	g := newGen(seed, customers, events, "evt-", zone, from, to)
	pending := make([][]kafka.Message, partitions)
	counts := make([]int64, partitions)
	var bytes int64
	for range events {
		k, v := g.next(time.Time{})
		m := kafka.Message{Key: []byte(k), Value: append([]byte(nil), v...), Time: time.Now()}
		p := bal.Balance(m, ids...)
		pending[p] = append(pending[p], m)
		counts[p]++
		bytes += int64(len(k) + len(v))
		if len(pending[p]) == chunk {
			queues[p] <- pending[p]
			pending[p] = make([]kafka.Message, 0, chunk)
		}
	}
	for p := range partitions {
		if len(pending[p]) > 0 {
			queues[p] <- pending[p]
		}
		close(queues[p])
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return produceResult{}, err
	}
	secs := time.Since(start).Seconds()
	res := produceResult{
		Events: events, Customers: customers, Bytes: bytes, Seconds: secs, CPU: cpu.stop(),
		PerSecond: float64(events) / secs, MBPerSec: float64(bytes) / secs / 1e6,
	}
	ends, err := endOffsets(ctx, brokers, topic, partitions)
	if err != nil {
		return res, err
	}
	for p, n := range counts {
		if ends[p] != n {
			return res, fmt.Errorf("partition %d holds %d records, %d were sent to it", p, ends[p], n)
		}
	}
	return res, nil
}
