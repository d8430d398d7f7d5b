// Command goka is the Goka peer of the benchmark (bench/peers): the
// benchmark's fold written as a Goka processor — goka.DefineGroup with the
// input topics, a persisted group table (Goka's default LevelDB storage
// locally, the compacted <group>-table topic in Kafka) and an output
// stream for the triggers.
//
// It prints progress marks on stdout ("mark <records> <unix ns>", as
// bench/peers/progress does) and, on SIGTERM, dumps the state of the sample
// customers (JSON lines), then stops the processor.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "goka:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokers   = flag.String("brokers", os.Getenv("KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated")
		topics    = flag.String("topics", "", "input topics, comma-separated (co-partitioned)")
		group     = flag.String("group", "", "processor group (the table topic is <group>-table)")
		output    = flag.String("output", "", "trigger topic")
		dir       = flag.String("state-dir", "", "folder of the LevelDB storage")
		threshold = flag.Int("threshold", 3, "views of a category that fire a trigger")
		marks     = flag.String("marks", "", "progress marks: records processed, comma-separated")
		sample    = flag.String("sample", "", "file of customer ids (one a line) whose state to dump on SIGTERM")
		dump      = flag.String("dump", "", "file to write the sample's states to (JSON lines)")
	)
	flag.Parse()
	if *brokers == "" || *topics == "" || *group == "" || *output == "" || *dir == "" {
		return errors.New("-brokers, -topics, -group, -output and -state-dir are required")
	}
	counter, err := newCounter(*marks)
	if err != nil {
		return err
	}

	// Goka's defaults, but read the input from the start, and speak a
	// recent protocol version.
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication, tmc.Stream.Replication = 1, 1 // one broker

	var inputs goka.Streams
	for t := range strings.SplitSeq(*topics, ",") {
		inputs = append(inputs, goka.Stream(t))
	}
	out := goka.Stream(*output)
	g := goka.DefineGroup(goka.Group(*group),
		goka.Inputs(inputs, eventCodec{}, func(ctx goka.Context, msg any) {
			c, _ := ctx.Value().(*customer)
			if c == nil {
				c = &customer{}
			}
			if t, ok := fold(c, ctx.Key(), msg.(*event), *threshold); ok {
				ctx.Emit(out, ctx.Key(), &t)
			}
			ctx.SetValue(c)
			counter.add()
		}),
		goka.Output(out, triggerCodec{}),
		goka.Persist(customerCodec{}),
	)
	p, err := goka.NewProcessor(strings.Split(*brokers, ","), g,
		goka.WithStorageBuilder(storage.DefaultBuilder(*dir)),
		// Partition like Kafka's Java clients (and the producer of the
		// input), so the table and Get agree with the input's partitions.
		goka.WithHasher(newMurmur2),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(cfg)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(cfg)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(cfg)),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, tmc)),
		goka.WithLogger(log.New(os.Stderr, "goka ", log.LstdFlags)),
	)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err := <-done:
		return fmt.Errorf("processor stopped: %v", err)
	case <-sig:
	}
	dumpErr := dumpSample(p, *sample, *dump)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-time.After(60 * time.Second):
		return errors.New("the processor did not stop within 60s")
	}
	return dumpErr
}

// snapshot is a customer's state as bench/peers compares it.
type snapshot struct {
	Customer   string                      `json:"customer"`
	Missing    bool                        `json:"missing,omitempty"`
	Events     map[string]int64            `json:"events"`
	Categories map[string]categorySnapshot `json:"categories"`
}

type categorySnapshot struct {
	Views     int  `json:"views"`
	Purchased bool `json:"purchased"`
	Fired     bool `json:"fired"`
}

// dumpSample writes the state of the sample's customers, read from the
// processor's local storage.
func dumpSample(p *goka.Processor, sample, dump string) error {
	if sample == "" || dump == "" {
		return nil
	}
	b, err := os.ReadFile(sample)
	if err != nil {
		return err
	}
	f, err := os.Create(dump)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for id := range strings.Lines(string(b)) {
		if id = strings.TrimSpace(id); id == "" {
			continue
		}
		v, err := p.Get(id)
		if err != nil {
			return fmt.Errorf("get %s: %w", id, err)
		}
		s := snapshot{Customer: id, Events: map[string]int64{}, Categories: map[string]categorySnapshot{}}
		if c, _ := v.(*customer); c == nil {
			s.Missing = true
		} else {
			s.Events = c.Events
			for name, cat := range c.Categories {
				s.Categories[name] = categorySnapshot{Views: len(cat.Views), Purchased: cat.Purchased != 0, Fired: cat.Fired}
			}
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// counter counts records processed and prints the progress marks.
type counter struct {
	n     atomic.Int64
	next  atomic.Int64
	mu    sync.Mutex
	marks []int64
}

func newCounter(s string) (*counter, error) {
	c := &counter{}
	for f := range strings.SplitSeq(s, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("mark %q: want a positive count", f)
		}
		c.marks = append(c.marks, n)
	}
	slices.Sort(c.marks)
	c.next.Store(c.head())
	return c, nil
}

func (c *counter) head() int64 {
	if len(c.marks) == 0 {
		return 1<<63 - 1
	}
	return c.marks[0]
}

func (c *counter) add() {
	n := c.n.Add(1)
	if n < c.next.Load() {
		return
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.marks) > 0 && c.marks[0] <= n {
		fmt.Printf("mark %d %d\n", c.marks[0], now)
		c.marks = c.marks[1:]
	}
	c.next.Store(c.head())
}

// murmur2 is Kafka's partitioning hash (the Java client's default
// partitioner: murmur2 of the key, made positive, modulo the partitions).
type murmur2 struct{ buf []byte }

func newMurmur2() hash.Hash32 { return &murmur2{} }

func (h *murmur2) Write(p []byte) (int, error) { h.buf = append(h.buf, p...); return len(p), nil }
func (h *murmur2) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
func (h *murmur2) Reset()         { h.buf = h.buf[:0] }
func (h *murmur2) Size() int      { return 4 }
func (h *murmur2) BlockSize() int { return 4 }

// Sum32 is positive, so Goka's hash % partitions is Kafka's partition.
func (h *murmur2) Sum32() uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	data := h.buf
	n := len(data)
	x := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		x *= m
		x ^= k
	}
	tail := n &^ 3
	switch n % 4 {
	case 3:
		x ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		x ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		x ^= uint32(data[tail])
		x *= m
	}
	x ^= x >> 13
	x *= m
	x ^= x >> 15
	return x & 0x7fffffff
}
