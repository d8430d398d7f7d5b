package generate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/kafkaio"
)

// ProduceConfig configures Produce.
type ProduceConfig struct {
	// Brokers are the Kafka bootstrap addresses (host:port).
	Brokers []string
	// Topic receives the records. It must exist: producers do not create
	// topics.
	Topic string
	// Rate is the target rate in records per second (default 100).
	Rate float64
	// Events stops after this many records; Duration after this long.
	// Whichever comes first; neither (0) runs until the context is done.
	Events   int
	Duration time.Duration
	// Generator configures the simulation.
	Generator Config
	// Progress, when set, is called about every ProgressEvery (default 1s)
	// with a copy of the figures so far, from Produce's goroutine.
	Progress      func(Stats)
	ProgressEvery time.Duration
	// Now is the clock records are stamped with (default time.Now).
	Now func() time.Time
	// DialTimeout bounds each start-up call (default 10s): the brokers'
	// probe (an address that is not Kafka fails within it) and the topic
	// check.
	DialTimeout time.Duration
	// Dialer, when set, carries the TLS and SASL of the connections to
	// the brokers (kafkaio.Dialer); nil: plaintext.
	Dialer *kafka.Dialer
}

// DefaultRate is the default of ProduceConfig.Rate.
const DefaultRate = 100

func (c *ProduceConfig) setDefaults() {
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = kafkaio.DefaultTimeout
	}
}

// Validate reports every invalid field, by its flag name.
func (c ProduceConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker is required")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers", "%q is not host:port", b)
		}
	}
	if c.Topic == "" {
		bad("topic", "required")
	}
	if c.Rate < 0 || c.Rate > 1e6 {
		bad("rate", "must be between 0 and 1000000 events/s, got %v", c.Rate)
	}
	if c.Events < 0 {
		bad("events", "must not be negative, got %d", c.Events)
	}
	if c.Duration < 0 {
		bad("duration", "must not be negative, got %s", c.Duration)
	}
	if err := c.Generator.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Stats are what Produce reports.
type Stats struct {
	// Events is the number of records Kafka acknowledged; Bytes their keys
	// and values.
	Events int
	Bytes  int64
	// Elapsed is the time since the first record.
	Elapsed time.Duration
	// Rate is the requested rate.
	Rate float64
	// ByName counts the records by Message.Name.
	ByName map[string]int
}

// Achieved returns the achieved rate in records per second.
func (s Stats) Achieved() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

// String summarises s on one line.
func (s Stats) String() string {
	return fmt.Sprintf("%d events in %.1fs: %.1f events/s (requested %g/s), %.1f KB",
		s.Events, s.Elapsed.Seconds(), s.Achieved(), s.Rate, float64(s.Bytes)/1000)
}

// tick is how often Produce sends what is due.
const tick = 10 * time.Millisecond

// Produce writes generated records to the topic at the configured rate,
// keyed by customer and partitioned as Java clients do (murmur2 of the
// key), with acks from every in-sync replica, until Events records were
// acknowledged, Duration passed or ctx is done. Records are sent every
// 10 ms, in batches of what is due; when Kafka is slower than the rate, the
// achieved rate (Stats.Achieved) falls behind the requested one. A done
// context is not an error: Produce returns what it sent.
func Produce(ctx context.Context, cfg ProduceConfig) (Stats, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	g, err := New(cfg.Generator)
	if err != nil {
		return Stats{}, err
	}
	if err := checkTopic(ctx, cfg.Brokers, cfg.Dialer, cfg.Topic, cfg.DialTimeout); err != nil {
		if ctx.Err() != nil {
			return Stats{}, nil // stopped before the first record
		}
		return Stats{}, err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     &kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchBytes:   4 << 20,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  5,
		Transport:    kafkaio.TransportFor(cfg.Dialer, cfg.DialTimeout),
	}
	defer w.Close()

	st := Stats{Rate: cfg.Rate, ByName: map[string]int{}}
	begin := cfg.Now()
	lastProgress := begin
	t := time.NewTicker(tick)
	defer t.Stop()
	var batch []kafka.Message
	for {
		now := cfg.Now()
		elapsed := now.Sub(begin)
		if cfg.Duration > 0 && elapsed >= cfg.Duration {
			break
		}
		due := int(cfg.Rate*elapsed.Seconds()) + 1 - st.Events
		if cfg.Events > 0 {
			due = min(due, cfg.Events-st.Events)
		}
		due = min(due, max(int(cfg.Rate/10), 100)) // bound one write
		batch = nextBatch(g, now, due, batch, &st)
		if len(batch) > 0 {
			if err := w.WriteMessages(ctx, batch...); err != nil {
				if ctx.Err() != nil {
					break
				}
				return st, fmt.Errorf("generate: write to %s: %w", cfg.Topic, err)
			}
			st.Events += len(batch)
		}
		st.Elapsed = cfg.Now().Sub(begin)
		if cfg.Events > 0 && st.Events >= cfg.Events {
			break
		}
		if cfg.Progress != nil && cfg.Now().Sub(lastProgress) >= cfg.ProgressEvery {
			lastProgress = cfg.Now()
			snap := st
			snap.ByName = maps.Clone(st.ByName)
			cfg.Progress(snap)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	st.Elapsed = cfg.Now().Sub(begin)
	return st, nil
}

// nextBatch replaces batch's records with the next due records of g at
// now, counting them in st by name and bytes.
func nextBatch(g *Generator, now time.Time, due int, batch []kafka.Message, st *Stats) []kafka.Message {
	batch = batch[:0]
	for range due {
		m := g.Next(now)
		km := kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		for _, h := range m.Headers {
			km.Headers = append(km.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		batch = append(batch, km)
		st.ByName[m.Name]++
		st.Bytes += int64(len(m.Key) + len(m.Value))
	}
	return batch
}

// checkTopic fails with a clear error when no broker answers as Kafka
// (naming --brokers and the address) or topic does not exist. Each call
// is bounded by timeout and ends when ctx does.
func checkTopic(ctx context.Context, brokers []string, dialer *kafka.Dialer, topic string, timeout time.Duration) error {
	d := kafkaio.WithTimeout(dialer, timeout)
	addr, err := kafkaio.ProbeBrokers(ctx, "--brokers", brokers, d, timeout)
	if err != nil {
		return err // names --brokers and the address
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("generate: brokers: connect to %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() { stop(); _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	parts, err := conn.ReadPartitions(topic)
	if err != nil || len(parts) == 0 {
		if err == nil {
			err = errors.New("no partitions")
		}
		return fmt.Errorf("generate: topic %q on %s: %w (create it first: journey topics create --config FILE creates the topics a configuration names)", topic, addr, err)
	}
	return nil
}
