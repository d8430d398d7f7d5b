package kafkaio

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"go.uber.org/zap/zaptest"

	"github.com/journey-dev/journey/internal/testrig"
)

// One shared fetcher serves several partitions: each gets its records in
// order from its offset, and a partition whose worker does not read is
// paused without holding up the others.
func TestFetcherPausesOnlyTheSlowPartition(t *testing.T) {
	testFetcher(t, testrig.KafkaBrokers(t))
}

// The fetcher and the appender group partitions by leader: with
// two brokers each sends a request to each, and every record still arrives
// where and in the order it should. The test's own two-broker cluster: the
// rig's has one.
func TestFetcherAndAppenderAcrossBrokers(t *testing.T) {
	brokers := testrig.StartCluster(t, 2)
	t.Run("fetcher", func(t *testing.T) { testFetcher(t, brokers) })
	t.Run("appender", func(t *testing.T) { testAppender(t, brokers) })
}

// leaders returns the distinct leaders of topic's partitions, once every
// one of them has a leader.
func leaders(t *testing.T, brokers []string, topic string) map[int]bool {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	ids := map[int]bool{}
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		clear(ids)
		md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		for _, tp := range md.Topics {
			if len(tp.Partitions) == 0 {
				return fmt.Errorf("topic %s: no partitions yet", topic)
			}
			for _, p := range tp.Partitions {
				if p.Leader.Host == "" {
					return fmt.Errorf("topic %s partition %d: no leader yet", topic, p.ID)
				}
				ids[p.Leader.ID] = true
			}
		}
		return nil
	})
	return ids
}

func testFetcher(t *testing.T, brokers []string) {
	topic := fmt.Sprintf("fetcher-%d", time.Now().UnixNano())
	testrig.CreateTopic(t, brokers, topic, 3)
	const per = 3000
	var msgs []kafka.Message
	for p := range 3 {
		for i := range per {
			msgs = append(msgs, kafka.Message{Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		BatchSize: 500, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	nl := len(leaders(t, brokers, topic))
	t.Logf("partitions led by %d broker(s)", nl)
	if len(brokers) > 1 && nl < 2 {
		t.Fatalf("%d brokers but the partitions have %d leader(s): nothing tests the grouping by leader", len(brokers), nl)
	}

	f := NewFetcher(FetcherConfig{Brokers: brokers, MaxBytes: 64 << 10, MaxWait: 100 * time.Millisecond, Log: zaptest.NewLogger(t)})
	defer f.Close()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stuck := make(chan kafka.Message, 1) // partition 0: never read
	if _, err := f.Subscribe(sctx, topic, 0, kafka.FirstOffset, stuck); err != nil {
		t.Fatal(err)
	}
	outs := []chan kafka.Message{nil, make(chan kafka.Message, 10), make(chan kafka.Message, 10)}
	starts := []int64{0, 0, 1000} // partition 2 from a stored offset
	var stopped []<-chan struct{}
	for p := 1; p < 3; p++ {
		s, err := f.Subscribe(sctx, topic, p, starts[p], outs[p])
		if err != nil {
			t.Fatal(err)
		}
		stopped = append(stopped, s)
	}
	for p := 1; p < 3; p++ {
		for i := starts[p]; i < per; i++ {
			select {
			case m := <-outs[p]:
				if m.Offset != i || string(m.Value) != fmt.Sprintf("p%d-%d", p, i) || m.Topic != topic || m.Partition != p {
					t.Fatalf("partition %d: got offset %d %q, want offset %d", p, m.Offset, m.Value, i)
				}
				if m.HighWaterMark != per {
					t.Fatalf("partition %d: high watermark %d, want %d", p, m.HighWaterMark, per)
				}
			case <-ctx.Done():
				t.Fatalf("partition %d: stalled at offset %d (held up by the unread partition?)", p, i)
			}
		}
	}
	if m := <-stuck; m.Offset != 0 {
		t.Fatalf("partition 0: first record at offset %d", m.Offset)
	}
	stop()
	for _, s := range stopped {
		<-s
	}
}

// TestSlab: every key and value is its own bytes (appending to one does not
// touch the next), nil stays nil, and a value larger than a quarter chunk
// gets its own allocation.
func TestSlab(t *testing.T) {
	var s slab
	var got [][]byte
	var want []string
	for i := range 5000 {
		v := strings.Repeat(string(rune('a'+i%26)), i%300)
		if i%1000 == 999 {
			v = strings.Repeat("L", slabChunk/2)
		}
		b, err := s.read(protocol.NewBytes([]byte(v)))
		if err != nil {
			t.Fatal(err)
		}
		got, want = append(got, b), append(want, v)
	}
	for i, b := range got {
		_ = append(b, 'X') // must not write into the next record
		if string(b) != want[i] {
			t.Fatalf("record %d: %q, want %q", i, b, want[i])
		}
	}
	if b, err := s.read(nil); b != nil || err != nil {
		t.Fatalf("nil key: %v %v", b, err)
	}
}

// TestPartitionMaxBytes: under MaxQueued a partition's fetch size is its
// share of a third of it, within MaxBytes and never below
// minPartitionBytes; without it, MaxBytes.
func TestPartitionMaxBytes(t *testing.T) {
	f := &Fetcher{maxBytes: 4 << 20, maxQueued: 24 << 20}
	for _, c := range []struct {
		subs int
		want int32
	}{{0, 4 << 20}, {1, 4 << 20}, {2, 4 << 20}, {8, 1 << 20}, {16, 512 << 10}, {1000, minPartitionBytes}} {
		if got := f.partitionMaxBytes(c.subs); got != c.want {
			t.Errorf("%d subscriptions: %d bytes a partition, want %d", c.subs, got, c.want)
		}
	}
	f.maxQueued = 0
	if got := f.partitionMaxBytes(1000); got != 4<<20 {
		t.Errorf("no bound: %d, want MaxBytes", got)
	}
}
