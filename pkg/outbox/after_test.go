package outbox

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/memsink"
	"github.com/journey-dev/journey/pkg/state"
)

// orderSink records each delivery in a shared log, and fails the first
// `fail` of them.
type orderSink struct {
	*memsink.Sink
	log  *[]string
	mu   *sync.Mutex
	fail int
}

func (s *orderSink) Deliver(ctx context.Context, b sink.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return fmt.Errorf("%w: down", sink.ErrRetriable)
	}
	*s.log = append(*s.log, fmt.Sprintf("sink:%d", b.Len()))
	return s.Sink.Deliver(ctx, b)
}

type orderForwarder struct {
	log *[]string
	mu  *sync.Mutex
}

func (f *orderForwarder) Forward(_ context.Context, fs []Forward) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range fs {
		*f.log = append(*f.log, "fwd:"+string(x.Key))
	}
	return nil
}

// orderLog records, in one log, what an orderSink took and what an
// orderForwarder produced.
type orderLog struct {
	mu  sync.Mutex
	log []string
}

// dispatcher returns a dispatcher of p whose sink (failing its first fail
// deliveries) and forwarder write to l.
func (l *orderLog) dispatcher(p *state.Partition, fail int, cfg Config) *Dispatcher {
	d := NewDispatcher(p, &orderSink{Sink: memsink.New(), log: &l.log, mu: &l.mu, fail: fail}, cfg, zap.NewNop(), nil)
	d.SetForwarder(&orderForwarder{log: &l.log, mu: &l.mu})
	return d
}

// check fails t unless the log reads want.
func (l *orderLog) check(t *testing.T, want string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if fmt.Sprint(l.log) != want {
		t.Errorf("order %v, want %s", l.log, want)
	}
}

// runUntilDelivered runs d until p's outbox is empty, then stops it; Run
// must end without an error.
func runUntilDelivered(t *testing.T, d *Dispatcher, p *state.Partition) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	d.Notify()
	checkFor(t, 5*time.Second, func() error {
		if n := p.OutboxDepth(); n != 0 {
			return fmt.Errorf("outbox depth %d", n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestForwardAfterFollowsTheSink checks KindForwardAfter: such a record is
// produced only once the sink took the entries before it — after a failed
// delivery too (the journey forget ledger's entry says Redis was erased)
// — while a KindForward of the same batch goes before the sink, once
// (forwardAhead), not again with each retry of the sink.
func TestForwardAfterFollowsTheSink(t *testing.T) {
	p := openPartition(t)
	var l orderLog
	d := l.dispatcher(p, 2, Config{MaxBatch: 100, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	b := p.NewBatch()
	tr := journey.Trigger{ID: "t1", Rule: "r", CustomerID: "c", Channel: "email", At: time.Unix(1, 0).UTC()}
	data, err := EncodeTrigger(&tr, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Append(KindTrigger, data)
	del, _ := EncodeContext(sink.Context{CustomerID: "c", Delete: true, Forget: true}, time.Now())
	b.Append(KindContext, del)
	b.Append(KindForwardAfter, EncodeForward(&Forward{Key: []byte("after"), Value: []byte("{}")}))
	b.Append(KindForward, EncodeForward(&Forward{Partition: 1, Key: []byte("before"), Value: []byte("{}")}))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	runUntilDelivered(t, d, p)
	// Two failed deliveries: the plain forward went out once, ahead, the
	// after-forward only once the sink took the batch.
	l.check(t, "[fwd:before sink:2 fwd:after]")
}

// TestForwardsGoAhead checks forwardAhead: the forwards of a committed
// outbox are produced, in order, before the sink's deliveries reach them
// (a backlog's round leaves thousands of entries, handed MaxBatch at a
// time), each once.
func TestForwardsGoAhead(t *testing.T) {
	p := openPartition(t)
	var l orderLog
	d := l.dispatcher(p, 0, Config{MaxBatch: 2})
	b := p.NewBatch()
	for i, k := range []string{"T", "T", "T", "F1", "T", "T", "F2", "T"} {
		if k != "T" {
			b.Append(KindForward, EncodeForward(&Forward{Partition: 1, Key: []byte(k), Value: []byte("{}")}))
			continue
		}
		tr := journey.Trigger{ID: fmt.Sprint("t", i), Rule: "r", CustomerID: "c", Channel: "email", At: time.Unix(1, 0).UTC()}
		data, err := EncodeTrigger(&tr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.Append(KindTrigger, data)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	runUntilDelivered(t, d, p)
	l.check(t, "[fwd:F1 fwd:F2 sink:2 sink:1 sink:2 sink:1]")
}
