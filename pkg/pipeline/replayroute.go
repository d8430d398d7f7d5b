package pipeline

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/outbox"
)

// replayRouter carries a replay's forwarded records (identity routing)
// between its partitions in memory: a replay must not write to the live
// repartition topic, and it holds every partition anyway. Each forward
// goes to its partition's queue, which a goroutine feeds to the worker as
// records of the repartition topic (offsets count from 0 in each run: a
// replay stores no offset for that topic).
//
// A replay ends when nothing is left anywhere: every partition has
// committed its input up to the plan's ends (drained), and every forward
// committed by a sender was committed by its receiver (pending counts them:
// added when the sender's round commits, taken when the receiver's does,
// the receiver's own new forwards added first, so it never reaches zero
// while one is on its way).
type replayRouter struct {
	topic   string
	queues  map[int]*fwdQueue
	pending atomic.Int64

	mu      sync.Mutex
	drained map[int]bool
	quiet   chan struct{} // closed once nothing is left
	closed  bool
}

func newReplayRouter(topic string, ids []int) *replayRouter {
	r := &replayRouter{topic: topic, queues: map[int]*fwdQueue{}, drained: map[int]bool{}, quiet: make(chan struct{})}
	for _, id := range ids {
		r.queues[id] = &fwdQueue{signal: make(chan struct{}, 1)}
	}
	return r
}

// fwdQueue is one partition's unbounded queue of forwarded records: a
// sender never blocks on a receiver (which may be waiting on its own
// outbox, delivered by a dispatcher that sends to the first).
type fwdQueue struct {
	mu     sync.Mutex
	items  []kafka.Message
	next   int64
	signal chan struct{}
}

// Forward implements outbox.Forwarder for every replayed partition.
func (r *replayRouter) Forward(_ context.Context, fs []outbox.Forward) error {
	for _, f := range fs {
		q := r.queues[f.Partition]
		if q == nil {
			continue // a partition the replay does not hold: its plan has no range there
		}
		hs := make([]kafka.Header, len(f.Headers))
		for i, h := range f.Headers {
			hs[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		q.mu.Lock()
		q.items = append(q.items, kafka.Message{Topic: r.topic, Partition: f.Partition, Offset: q.next,
			Key: f.Key, Value: f.Value, Headers: hs, Time: f.Time})
		q.next++
		q.mu.Unlock()
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	return nil
}

// feed moves partition id's forwarded records into msgs until ctx ends.
func (r *replayRouter) feed(ctx context.Context, id int, msgs chan<- kafka.Message) {
	q := r.queues[id]
	for {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		for _, m := range items {
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-q.signal:
		case <-ctx.Done():
			return
		}
	}
}

// committed records a round's forwards: sent (committed to its outbox)
// and received (read from the queue).
func (r *replayRouter) committed(sent, received int) {
	if sent == 0 && received == 0 {
		return
	}
	r.pending.Add(int64(sent))
	r.pending.Add(-int64(received))
	r.check()
}

// drain records that partition id committed its whole input.
func (r *replayRouter) drain(id int) {
	r.mu.Lock()
	r.drained[id] = true
	r.mu.Unlock()
	r.check()
}

func (r *replayRouter) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed && len(r.drained) == len(r.queues) && r.pending.Load() == 0 {
		r.closed = true
		close(r.quiet)
	}
}
