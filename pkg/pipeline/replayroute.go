package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/state"
)

// replayRouter carries a replay's forwarded records (identity routing)
// between its partitions in memory: a replay must not write to the live
// repartition topic, and it holds every partition anyway. Each forward
// goes to its partition's queue, which a goroutine feeds to the worker as
// records of the repartition topic (offsets count from 0 in each run: a
// replay stores no offset for that topic).
//
// Forward returns once the receivers committed every record it queued:
// until then the entries stay in the sender's outbox, so a replay stopped
// meanwhile delivers them again when it resumes (the receiver drops what it
// already folded), and nothing lives only in memory.
//
// A replay ends when nothing is left anywhere: every partition has
// committed its input up to the plan's ends (drained), and every forward
// committed by a sender was committed by its receiver (pending counts them:
// added just before the sender's round commits, taken when the receiver's does,
// the receiver's own new forwards added first, so it never reaches zero
// while one is on its way).
type replayRouter struct {
	topic   string
	queues  map[int]*fwdQueue
	pending atomic.Int64
	// acks: partition -> queued offset -> the Forward call waiting for it
	acks sync.Map // ackKey -> *sync.WaitGroup

	mu      sync.Mutex
	drained map[int]bool
	quiet   chan struct{} // closed once nothing is left
	closed  bool
	stopped chan struct{} // closed when the replay is stopped (stop)
	stopMu  sync.Once
}

// stop ends every wait for an acknowledgment: the replay was interrupted,
// and the entries stay in their outboxes for the resumed replay.
func (r *replayRouter) stop() { r.stopMu.Do(func() { close(r.stopped) }) }

func newReplayRouter(topic string, ids []int) *replayRouter {
	r := &replayRouter{topic: topic, queues: map[int]*fwdQueue{}, drained: map[int]bool{}, quiet: make(chan struct{}), stopped: make(chan struct{})}
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

type ackKey struct {
	partition int
	offset    int64
}

// Forward implements outbox.Forwarder for every replayed partition.
func (r *replayRouter) Forward(ctx context.Context, fs []outbox.Forward) error {
	select {
	case <-r.quiet:
		return nil // everything forwarded was committed: these are copies (a flush after a cancelled delivery)
	case <-r.stopped:
		return errReplayStopped
	default:
	}
	var wg sync.WaitGroup
	for _, f := range fs {
		q := r.queues[f.Partition]
		if q == nil || isLedger(f.Headers) {
			continue // a partition the replay does not hold (its plan has no range there), or a forget ledger entry
		}
		hs := make([]kafka.Header, len(f.Headers))
		for i, h := range f.Headers {
			hs[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		wg.Add(1)
		q.mu.Lock()
		r.acks.Store(ackKey{f.Partition, q.next}, &wg)
		q.items = append(q.items, kafka.Message{Topic: r.topic, Partition: f.Partition, Offset: q.next,
			Key: f.Key, Value: f.Value, Headers: hs, Time: f.Time})
		q.next++
		q.mu.Unlock()
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-r.quiet:
		return nil
	case <-r.stopped:
		return errReplayStopped
	case <-ctx.Done():
		return ctx.Err()
	}
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

// sending counts the forwards a round is about to commit: before its
// commit, so a receiver never takes one from pending before it was added.
func (r *replayRouter) sending(sent int) { r.pending.Add(int64(sent)) }

// committed records that partition id committed a round that read the
// queued records received (their offsets), which acknowledges them to
// their senders.
func (r *replayRouter) committed(id int, received []int64) {
	if len(received) == 0 {
		return
	}
	for _, off := range received {
		if wg, ok := r.acks.LoadAndDelete(ackKey{id, off}); ok {
			wg.(*sync.WaitGroup).Done()
		}
	}
	r.pending.Add(-int64(len(received)))
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

// queued counts the forwards a partition's outbox holds at the start of a
// (resumed) replay: they will be delivered again, and the replay is not
// over before their receivers committed them.
func (r *replayRouter) queued(sp *state.Partition) error {
	n := 0
	for from := uint64(0); ; {
		es, err := sp.ReadOutboxFrom(from, 4096)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Kind == outbox.KindForward {
				n++
			}
		}
		from = es[len(es)-1].Seq + 1
	}
	r.pending.Add(int64(n))
	return nil
}

// errReplayStopped keeps forwards in their outbox when the replay was
// interrupted (retriable: a dispatcher backs off until it is stopped).
var errReplayStopped = fmt.Errorf("%w: replay interrupted", sink.ErrRetriable)
