package kafkaio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/journey-dev/journey/internal/testrig"
)

// Batches of several partitions appended at the same moment share produce
// requests; each still lands whole, in its own partition, at the
// offset its caller was told.
func TestAppenderKeepsEachPartitionsBatches(t *testing.T) {
	testAppender(t, testrig.KafkaBrokers(t))
}

func testAppender(t *testing.T, brokers []string) {
	topic := fmt.Sprintf("appender-%d", time.Now().UnixNano())
	const partitions, rounds = 6, 40
	c := NewAppender(AppenderConfig{Brokers: brokers, Topic: topic, Log: zaptest.NewLogger(t)})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := NewAdmin(brokers, &kafka.Dialer{Timeout: 10 * time.Second}, zaptest.NewLogger(t))
	if err := admin.CreateTopic(ctx, kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	nl := len(leaders(t, brokers, topic))
	t.Logf("changelog partitions led by %d broker(s)", nl)
	if len(brokers) > 1 && nl < 2 {
		t.Fatalf("%d brokers but the partitions have %d leader(s): nothing tests the grouping by leader", len(brokers), nl)
	}
	type span struct{ from, to int64 }
	got := make([][]span, partitions)
	var wg sync.WaitGroup
	errs := make(chan error, partitions)
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				recs := make([]Record, 1+(p+r)%5)
				for i := range recs {
					recs[i] = Record{Key: fmt.Appendf(nil, "p%d-r%d-%d", p, r, i), Value: []byte("v")}
				}
				next, err := c.Append(ctx, p, recs)
				if err != nil {
					errs <- err
					return
				}
				got[p] = append(got[p], span{next - int64(len(recs)), next})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for p := range partitions {
		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		want := int64(0)
		for r, s := range got[p] {
			if s.from != want {
				t.Fatalf("partition %d round %d: batch at %d, want %d (batches of one partition must follow each other)", p, r, s.from, want)
			}
			for off := s.from; off < s.to; off++ {
				msg, err := rd.ReadMessage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if wantKey := fmt.Sprintf("p%d-r%d-%d", p, r, off-s.from); msg.Offset != off || string(msg.Key) != wantKey {
					t.Fatalf("partition %d offset %d: key %q, want %q at %d", p, msg.Offset, msg.Key, wantKey, off)
				}
			}
			want = s.to
		}
		_ = rd.Close()
	}
}

// A prefixed value reads as its prefix then the value, whether kafka-go
// copies it with WriteTo or reads it in small pieces (smaller than the
// prefix, too), and says how much is left.
func TestPrefixedValueReadsAsPrefixThenTheValue(t *testing.T) {
	for _, prefix := range [][]byte{nil, []byte("S"), []byte("pre")} {
		for _, v := range [][]byte{nil, {}, []byte("x"), []byte("a state of some length")} {
			want := append(append([]byte{}, prefix...), v...)
			r := &prefixedValue{prefix: prefix, v: v}
			if r.Len() != len(want) {
				t.Fatalf("%q%q: Len %d, want %d", prefix, v, r.Len(), len(want))
			}
			var got bytes.Buffer
			if n, err := io.Copy(&got, r); err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) || r.Len() != 0 {
				t.Fatalf("%q%q: io.Copy wrote %q (%d, %v), %d left", prefix, v, got.Bytes(), n, err, r.Len())
			}
			for _, size := range []int{1, 2, 3} {
				r = &prefixedValue{prefix: prefix, v: v}
				var pieces []byte
				buf := make([]byte, size)
				for {
					n, err := r.Read(buf)
					pieces = append(pieces, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil || n == 0 {
						t.Fatalf("%q%q: Read: %d, %v", prefix, v, n, err)
					}
					if r.Len() != len(want)-len(pieces) {
						t.Fatalf("%q%q: Len %d after %d bytes read", prefix, v, r.Len(), len(pieces))
					}
				}
				if !bytes.Equal(pieces, want) {
					t.Fatalf("%q%q: read %q in pieces of %d, want %q", prefix, v, pieces, size, want)
				}
			}
		}
	}
}
