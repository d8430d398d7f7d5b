package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/state"
)

// replayRouter carries a replay's forwarded records (identity routing)
// between its partitions in memory, in epochs, so that a replay of the
// same topics folds the same records in the same order whatever the
// threads' timing (DESIGN.md, "Identity routing"):
//
//   - in epoch e each partition folds, in one round, the records forwarded
//     to it during epoch e-1 — by sender partition, then in each sender's
//     order — and then its next batch of input records (ReplayPlan's batch
//     size, the same every run);
//   - it then waits until its dispatcher has handed every forward it
//     committed to the router (Forward queues them for epoch e+1 and
//     returns), and meets the other partitions at the epoch's barrier;
//   - the replay ends at the first barrier where no partition has input
//     left and nothing was forwarded.
//
// A forward stays in its sender's outbox until the receiver has committed
// it: a sender deletes, in epoch e+2, only the entries it had delivered
// by barrier e (worker.deleteLimit), which every receiver committed in
// epoch e+1. So a replay stopped meanwhile delivers them again when it
// resumes (the receiver drops what it already folded), and nothing lives
// only in memory.
type replayRouter struct {
	topic  string
	queues map[int]*fwdQueue // by receiver

	mu       sync.Mutex
	sent     map[int]int64 // by sender: forwards committed (or left in the outbox by a stopped run)
	enqueued map[int]int64 // by sender: forwards handed to the router
	handed   chan struct{} // closed and replaced whenever forwards are handed
	arrived  int           // partitions at the current barrier
	more     bool          // one of them has input left
	next     chan struct{} // closed when the current barrier opens
	done     bool
	stopped  chan struct{} // closed when the replay is stopped (stop)
	stopMu   sync.Once
}

// fwdQueue is one receiver's forwarded records: next those of the
// current epoch by sender, cur those to fold in the current epoch.
type fwdQueue struct {
	next   map[int][]kafka.Message
	cur    []kafka.Message
	offset int64 // the next record's offset (counted from 0 in each run)
}

// stop ends every wait: the replay was interrupted, and the entries stay
// in their outboxes for the resumed replay.
func (r *replayRouter) stop() { r.stopMu.Do(func() { close(r.stopped) }) }

func newReplayRouter(topic string, ids []int) *replayRouter {
	r := &replayRouter{topic: topic, queues: map[int]*fwdQueue{}, sent: map[int]int64{}, enqueued: map[int]int64{},
		handed: make(chan struct{}), next: make(chan struct{}), stopped: make(chan struct{})}
	for _, id := range ids {
		r.queues[id] = &fwdQueue{next: map[int][]kafka.Message{}}
	}
	return r
}

// from is the forwarder of partition sender's dispatcher.
func (r *replayRouter) from(sender int) outbox.Forwarder { return senderForwarder{r, sender} }

type senderForwarder struct {
	r      *replayRouter
	sender int
}

// Forward implements outbox.Forwarder: it queues fs for the next epoch.
func (f senderForwarder) Forward(_ context.Context, fs []outbox.Forward) error {
	r := f.r
	select {
	case <-r.stopped:
		return errReplayStopped
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil // copies: every forward was folded (a flush after a cancelled delivery)
	}
	n := int64(0)
	for _, x := range fs {
		if isLedger(x.Headers) {
			continue // a replay forgets no one (ledger.go)
		}
		n++
		q := r.queues[x.Partition]
		if q == nil {
			continue // a partition the replay does not hold: its plan has no range there
		}
		hs := make([]kafka.Header, len(x.Headers))
		for i, h := range x.Headers {
			hs[i] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		q.next[f.sender] = append(q.next[f.sender], kafka.Message{Topic: r.topic, Partition: x.Partition, Offset: q.offset,
			Key: x.Key, Value: x.Value, Headers: hs, Time: x.Time})
		q.offset++
	}
	if n > 0 {
		r.enqueued[f.sender] += n
		close(r.handed)
		r.handed = make(chan struct{})
	}
	return nil
}

// sending counts the forwards partition id's round is about to commit.
func (r *replayRouter) sending(id, n int) {
	r.mu.Lock()
	r.sent[id] += int64(n)
	r.mu.Unlock()
}

// take returns the records forwarded to partition id in the last epoch,
// by sender then in each sender's order.
func (r *replayRouter) take(id int) []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.queues[id]
	cur := q.cur
	q.cur = nil
	return cur
}

// handedAll waits until partition id's dispatcher has handed the router
// every forward id committed.
func (r *replayRouter) handedAll(ctx context.Context, id int, dispDone <-chan error) error {
	for {
		r.mu.Lock()
		ok, ch := r.enqueued[id] >= r.sent[id], r.handed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return errStopped
		case <-r.stopped:
			return errStopped
		case err := <-dispDone:
			return fmt.Errorf("outbox dispatcher: %w", err)
		}
	}
}

// barrier ends partition id's epoch (more: it has input left) and waits
// for every partition's; it reports whether the replay has ended.
func (r *replayRouter) barrier(ctx context.Context, more bool) (bool, error) {
	r.mu.Lock()
	r.arrived++
	r.more = r.more || more
	if r.arrived < len(r.queues) {
		next := r.next
		r.mu.Unlock()
		select {
		case <-next:
		case <-ctx.Done():
			return false, errStopped
		case <-r.stopped:
			return false, errStopped
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.done, nil
	}
	defer r.mu.Unlock()
	forwarded := false
	for _, q := range r.queues {
		for _, s := range slices.Sorted(maps.Keys(q.next)) {
			q.cur = append(q.cur, q.next[s]...)
		}
		clear(q.next)
		forwarded = forwarded || len(q.cur) > 0
	}
	r.done = !r.more && !forwarded
	r.arrived, r.more = 0, false
	close(r.next)
	r.next = make(chan struct{})
	return r.done, nil
}

// queued counts the forwards a partition's outbox holds at the start of a
// (resumed) replay: its dispatcher hands them over again.
func (r *replayRouter) queued(id int, sp *state.Partition) error {
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
	r.sending(id, n)
	return nil
}

// errReplayStopped keeps forwards in their outbox when the replay was
// interrupted (retriable: a dispatcher backs off until it is stopped).
var errReplayStopped = fmt.Errorf("%w: replay interrupted", sink.ErrRetriable)
