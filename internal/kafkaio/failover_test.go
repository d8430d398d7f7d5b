package kafkaio

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestFetcherAndAppenderFollowALeaderChange kills the broker that leads
// half of the partitions (as a crash or a rolling restart does) while the
// shared fetcher reads them and the appender writes to them.
// The fetcher must hand over every record of every partition exactly once,
// in offset order, before and after the leaders move; every batch
// the appender acknowledges must be in the log, whole, where it said.
func TestFetcherAndAppenderFollowALeaderChange(t *testing.T) {
	cl := testrig.NewCluster(t, 2)
	brokers := cl.Brokers
	const partitions, per = 4, 500
	stamp := time.Now().UnixNano()
	in, logTopic := fmt.Sprintf("failover-in-%d", stamp), fmt.Sprintf("failover-log-%d", stamp)
	admin := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := admin.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: in, NumPartitions: partitions, ReplicationFactor: 2},
		{Topic: logTopic, NumPartitions: partitions, ReplicationFactor: 2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for topic, err := range res.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	for _, topic := range []string{in, logTopic} {
		if ls := leaders(t, brokers, topic); !ls[2] {
			t.Fatalf("%s: no partition led by node 2 (%v): killing it would move nothing", topic, ls)
		}
	}

	// The input: a writer that retries until the new leaders answer; each
	// round's records are known by value, so the log (the truth) is read
	// back at the end.
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: in, RequiredAcks: kafka.RequireAll,
		Balancer:  kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		BatchSize: 100, BatchTimeout: time.Millisecond, MaxAttempts: 30, WriteBackoffMax: 500 * time.Millisecond,
		Transport: &kafka.Transport{MetadataTTL: time.Second}}
	defer w.Close()
	write := func(round int) {
		t.Helper()
		var msgs []kafka.Message
		for p := range partitions {
			for i := range per {
				msgs = append(msgs, kafka.Message{Partition: p, Value: fmt.Appendf(nil, "r%d-p%d-%d", round, p, i)})
			}
		}
		testrig.CheckFor(t, time.Minute, 200*time.Millisecond, func() error { return w.WriteMessages(ctx, msgs...) })
	}

	f := NewFetcher(FetcherConfig{Brokers: brokers, MaxBytes: 64 << 10, MaxWait: 100 * time.Millisecond, Log: zaptest.NewLogger(t)})
	defer f.Close()
	outs := make([]chan kafka.Message, partitions)
	for p := range outs {
		outs[p] = make(chan kafka.Message, 64)
		if _, err := f.Subscribe(ctx, in, p, kafka.FirstOffset, outs[p]); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	fetched := make([][]kafka.Message, partitions)
	for p := range outs {
		go func() {
			for m := range outs[p] {
				mu.Lock()
				fetched[p] = append(fetched[p], kafka.Message{Offset: m.Offset, Value: m.Value})
				mu.Unlock()
			}
		}()
	}

	c := NewAppender(AppenderConfig{Brokers: brokers, Topic: logTopic, Log: zaptest.NewLogger(t)})
	defer c.Close()
	type span struct {
		from, to int64
		round    int
	}
	appended := make([][]span, partitions)
	appendRound := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, partitions)
		for p := range partitions {
			wg.Go(func() {
				for b := range 5 {
					recs := make([]Record, 1+b)
					for i := range recs {
						recs[i] = Record{Key: fmt.Appendf(nil, "r%d-p%d-b%d-%d", round, p, b, i), Value: []byte("v")}
					}
					actx, acancel := context.WithTimeout(ctx, time.Minute)
					next, err := c.Append(actx, p, recs)
					acancel()
					if err != nil {
						errs <- fmt.Errorf("partition %d: %w", p, err)
						return
					}
					appended[p] = append(appended[p], span{next - int64(len(recs)), next, round*10 + b})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}

	write(1)
	appendRound(1)
	cl.Kill(t, 2)
	t.Log("node 2 killed")
	write(2)
	appendRound(2)
	for _, topic := range []string{in, logTopic} {
		testrig.CheckFor(t, time.Minute, 200*time.Millisecond, func() error {
			if ls := leaders(t, brokers[:1], topic); ls[2] {
				return fmt.Errorf("%s: node 2 still leads a partition", topic)
			}
			return nil
		})
	}

	// The truth: each partition's log as a Reader reads it now.
	for p := range partitions {
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers[:1], Topic: in, Partition: p, MaxWait: 100 * time.Millisecond})
		var end int64
		testrig.CheckFor(t, time.Minute, 200*time.Millisecond, func() error { // its metadata may still name node 2
			_, end, err = partitionOffsets(ctx, admin, in, p)
			return err
		})
		var log []kafka.Message
		for int64(len(log)) < end {
			msg, err := rd.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: read back: %v", p, err)
			}
			log = append(log, kafka.Message{Offset: msg.Offset, Value: msg.Value})
		}
		_ = rd.Close()
		if len(log) < 2*per {
			t.Fatalf("partition %d: the log holds %d records, %d were written", p, len(log), 2*per)
		}
		testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			if n := len(fetched[p]); n < len(log) {
				return fmt.Errorf("partition %d: fetched %d of %d records", p, n, len(log))
			}
			return nil
		})
		mu.Lock()
		got := fetched[p]
		mu.Unlock()
		if len(got) != len(log) {
			t.Fatalf("partition %d: fetched %d records, the log holds %d (doubled?)", p, len(got), len(log))
		}
		for i := range log {
			if got[i].Offset != log[i].Offset || string(got[i].Value) != string(log[i].Value) {
				t.Fatalf("partition %d record %d: fetched offset %d %q, the log has offset %d %q", p, i,
					got[i].Offset, got[i].Value, log[i].Offset, log[i].Value)
			}
		}

		rd = kafka.NewReader(kafka.ReaderConfig{Brokers: brokers[:1], Topic: logTopic, Partition: p, MaxWait: 100 * time.Millisecond})
		for _, s := range appended[p] {
			if err := rd.SetOffset(s.from); err != nil {
				t.Fatal(err)
			}
			for off := s.from; off < s.to; off++ {
				msg, err := rd.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("changelog partition %d: read back at %d: %v", p, off, err)
				}
				want := fmt.Sprintf("r%d-p%d-b%d-%d", s.round/10, p, s.round%10, off-s.from)
				if msg.Offset != off || string(msg.Key) != want {
					t.Fatalf("changelog partition %d offset %d: key %q, want %q (an acknowledged batch is not where the appender said)",
						p, msg.Offset, msg.Key, want)
				}
			}
		}
		_ = rd.Close()
	}
}
