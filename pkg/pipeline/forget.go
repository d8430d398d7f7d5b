package pipeline

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/sink"
)

// Forgetting a customer (`journey forget`; README, "Privacy").
//
// A forget request is a record of the repartition topic with route
// "forget", keyed and addressed by the id, on the id's partition
// (ForgetMessages). The repartition topic rather than a topic of its own:
// it is already an input of every worker, co-partitioned, its offset
// stored with the state, and its records are handled inside the round, in
// order with the events forwarded to the same customer — so an erase is
// committed atomically with the offsets, like a link or a merge.
//
// The owning worker, in the round's batch:
//
//   - resolves the id: a linked id forwards the forget to its parent (the
//     canonical customer) and is erased itself;
//   - erases the customer's every processor state (held triggers with the
//     policy's), its identity entry and its timers; the changelog carries
//     the tombstones, so standbys and restores drop them too;
//   - deletes journey:ctx:<id>, the id's entries in the trigger streams
//     and their journey:tid:* keys (an outbox context deletion; the
//     Redis sink erases the stream entries);
//   - sends a forget to every id linked to it, each erased on its own
//     partition the same way;
//   - records HMAC-SHA256(privacy secret, id) in the partition's forgotten
//     set, so that later events addressed to the id — and links or merges
//     naming it — are dropped before the fold and counted
//     (journey_forgotten_events_total).
//
// The partition's dispatcher drops the outbox entries of forgotten
// customers still waiting (a trigger or context update committed before
// the forget, undelivered: Redis down, say), from the moment the forget is
// folded. Not erased: records in Kafka topics (they stay until their
// retention). The
// forgotten set is kept for good (no privacy.forget_retention yet), and
// lives in the state store: a replay into a fresh state dir does not see
// it.

// routeForget is the route of a forget request.
const routeForget = "forget"

// forgottenCustomer and forgottenProcessor name the state key holding a
// partition's forgotten set: sorted 32-byte HMACs. No customer id from
// ingest starts with a NUL byte in practice; the key sorts before all.
const (
	forgottenCustomer  = "\x00forgotten"
	forgottenProcessor = "forget"
	forgottenVersion   = 1
)

// forgetMsg asks the partition of ID to forget it.
type forgetMsg struct {
	ID string `json:"id"`
}

// ForgetMessages returns the repartition-topic records asking to forget
// ids, each for its partition among partitions (the repartition topic's
// count, the input's).
func ForgetMessages(ids []string, partitions int) ([]kafka.Message, error) {
	msgs := make([]kafka.Message, 0, len(ids))
	now := time.Now()
	for _, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("pipeline: an empty id cannot be forgotten")
		}
		v, err := json.Marshal(forgetMsg{ID: id})
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, kafka.Message{Partition: partitionOf(id, partitions), Key: []byte(id), Value: v, Time: now,
			Headers: []kafka.Header{{Key: HeaderRoute, Value: []byte(routeForget)}, {Key: HeaderRouteTo, Value: []byte(id)}}})
	}
	return msgs, nil
}

// PrivacyConfig configures forgetting customers.
type PrivacyConfig struct {
	// Secret keys the hash of the forgotten ids kept (privacy.secret_file).
	// Empty: the hash is unkeyed, and anyone holding the state can test
	// whether a given id was forgotten.
	Secret []byte
	// Pseudonyms, when set, replaces every customer id by its pseudonym
	// as each event is decoded (privacy.pseudonymize_ids), and the ids of
	// a record forwarded to another partition with it.
	Pseudonyms *ingest.Pseudonymizer
}

// forgotten is a partition's set of forgotten ids, by HMAC: loaded and set
// are the worker's; pub is a copy the worker publishes for its dispatcher,
// which drops the waiting outbox entries of forgotten customers
// (outbox.Dispatcher.SetSkip). An id is published when its forget is
// folded, before the commit: a round abandoned is folded again, and a
// worker stopped before the commit leaves the request to the next owner.
type forgotten struct {
	loaded bool
	set    map[[sha256.Size]byte]struct{}
	pub    atomic.Pointer[map[[sha256.Size]byte]struct{}]
}

// unload makes the next use read the set from the store again.
func (f *forgotten) unload() { f.loaded, f.set = false, nil }

// publish gives the dispatcher a copy of the set.
func (f *forgotten) publish() {
	m := maps.Clone(f.set)
	f.pub.Store(&m)
}

// skipForgotten reports whether customer id was forgotten (on the
// dispatcher's goroutine).
func (w *worker) skipForgotten(id string) bool {
	m := w.forgot.pub.Load()
	if m == nil || len(*m) == 0 {
		return false
	}
	_, ok := (*m)[w.p.forgetSum(id)]
	return ok
}

// forgetSum is id's keyed hash.
func (p *Pipeline) forgetSum(id string) [sha256.Size]byte {
	h := hmac.New(sha256.New, p.cfg.Privacy.Secret)
	h.Write([]byte(id))
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}

// loadForgotten reads the partition's forgotten set once.
func (w *worker) loadForgotten() error {
	if w.forgot.loaded {
		return nil
	}
	data, found, err := w.sp.State(forgottenCustomer, forgottenProcessor, forgottenVersion)
	if err != nil {
		return fmt.Errorf("forgotten ids: %w", err)
	}
	if found && len(data)%sha256.Size != 0 {
		return fmt.Errorf("forgotten ids: %d bytes, not a multiple of %d", len(data), sha256.Size)
	}
	w.forgot.set = make(map[[sha256.Size]byte]struct{}, len(data)/sha256.Size)
	for i := 0; i+sha256.Size <= len(data); i += sha256.Size {
		w.forgot.set[[sha256.Size]byte(data[i:i+sha256.Size])] = struct{}{}
	}
	w.forgot.loaded = true
	if len(w.forgot.set) > 0 {
		w.forgot.publish()
	}
	return nil
}

// isForgotten reports whether id (whose partition this is) was forgotten.
// Free while the partition forgot no one.
func (w *worker) isForgotten(id string) (bool, error) {
	if err := w.loadForgotten(); err != nil {
		return false, err
	}
	if len(w.forgot.set) == 0 {
		return false, nil
	}
	_, ok := w.forgot.set[w.p.forgetSum(id)]
	return ok, nil
}

// dropForgotten reports whether the event addressed to id must be
// dropped, and counts it.
func (w *worker) dropForgotten(tx *tx, id string) (bool, error) {
	if w.forgot.loaded && len(w.forgot.set) == 0 {
		return false, nil // the hot path: nobody forgotten here
	}
	if partitionOf(id, w.p.parts) != w.id {
		return false, nil // checked where it is forwarded
	}
	gone, err := w.isForgotten(id)
	if gone {
		tx.ids.forgottenEvents++
	}
	return gone, err
}

// onForget forgets f.ID (see the comment at the top).
func (w *worker) onForget(tx *tx, f forgetMsg) error {
	if f.ID == "" || f.ID == forgottenCustomer || tx.erased[f.ID] {
		return nil
	}
	if q := partitionOf(f.ID, w.p.parts); q != w.id {
		v, err := json.Marshal(f)
		if err != nil {
			return err
		}
		tx.forward(nil, routeForget, f.ID, q, v)
		return nil
	}
	if gone, err := w.isForgotten(f.ID); gone || err != nil {
		return err // erased by a committed round already
	}
	c, st, err := w.runner.Identity(f.ID)
	if err != nil {
		return err
	}
	if st == nil {
		return errNoRoute
	}
	var next []string
	if st.Parent != "" {
		next = append(next, st.Parent)
	}
	for _, l := range st.Linked {
		next = append(next, l.ID)
	}
	if _, err := w.runner.Detach(c.ID); err != nil {
		return err
	}
	if _, err := tx.b.TakeTimers(c.ID); err != nil { // dropped: nothing fires for it
		return err
	}
	st.Parent, st.Linked = "", nil
	w.runner.MarkIdentity(c)
	if tx.erased == nil {
		tx.erased = make(map[string]bool)
	}
	tx.erased[c.ID] = true
	if !w.p.cfg.DiscardOutput {
		del, _ := outbox.EncodeContext(sink.Context{CustomerID: c.ID, Delete: true}, tx.lastRecord)
		tx.b.Append(outbox.KindContext, del)
	}
	if err := w.markForgotten(tx, c.ID); err != nil {
		return err
	}
	tx.ids.forgotten++
	for _, id := range next {
		if err := w.onForget(tx, forgetMsg{ID: id}); err != nil {
			return err
		}
	}
	return nil
}

// markForgotten adds id to the partition's forgotten set and writes the
// set in the batch (its changelog record with it).
func (w *worker) markForgotten(tx *tx, id string) error {
	if err := w.loadForgotten(); err != nil {
		return err
	}
	w.forgot.set[w.p.forgetSum(id)] = struct{}{}
	w.forgot.publish()
	sums := make([][sha256.Size]byte, 0, len(w.forgot.set))
	for s := range w.forgot.set {
		sums = append(sums, s)
	}
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return slices.Compare(a[:], b[:]) })
	data := make([]byte, 0, len(sums)*sha256.Size)
	for _, s := range sums {
		data = append(data, s[:]...)
	}
	tx.b.PutState(forgottenCustomer, forgottenProcessor, forgottenVersion, data)
	return nil
}

// eraseIdentity reports whether the commit deletes c's identity entry
// with its states (c was forgotten in this round).
func (t *tx) eraseIdentity(c *journey.Customer) bool { return t.erased[c.ID] }

// Forget asks the workers owning ids to forget them: it produces a forget
// request per id to the repartition topic (cfg.Identity.Topic), acks=all,
// and returns once they are written. The erase happens when the owning
// partition's worker reads them, in its next round.
func Forget(ctx context.Context, cfg Config, log *zap.Logger, ids []string) error {
	topic := cfg.Identity.Topic
	if topic == "" {
		return errors.New("forget needs identity routing (identity.enabled): requests travel on its repartition topic")
	}
	a := newTopicAdmin(cfg, log, 0)
	n, ok := a.Exists(ctx, topic)
	if !ok {
		return fmt.Errorf("identity.topic %q does not exist: start 'journey run' once, or 'journey topics create'", topic)
	}
	msgs, err := ForgetMessages(ids, n)
	if err != nil {
		return err
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(cfg.Brokers...),
		Topic:        topic,
		Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
		Transport:    kafkaio.TransportFor(kafkaio.WithTimeout(cfg.Dialer, a.timeout), a.timeout),
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("repartition topic %q: %w", topic, err)
	}
	return nil
}

// WaitForgotten waits until the consumer group cfg.GroupID has committed
// the repartition topic up to where it ended once the forget requests were
// written — the requests themselves are then erased, in rounds committed
// with those offsets — and then once more up to where it ends at that
// point, which takes in the forgets the owners forwarded to linked ids
// (unless a dispatcher had not produced one yet: they follow within a
// round). It returns ctx's error when ctx ends first.
func WaitForgotten(ctx context.Context, cfg Config, log *zap.Logger) error {
	topic := cfg.Identity.Topic
	a := newTopicAdmin(cfg, log, 0)
	n, ok := a.Exists(ctx, topic)
	if !ok {
		return fmt.Errorf("identity.topic %q does not exist", topic)
	}
	c := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: a.timeout,
		Transport: kafkaio.TransportFor(kafkaio.WithTimeout(cfg.Dialer, a.timeout), a.timeout)}
	parts := make([]int, n)
	reqs := make([]kafka.OffsetRequest, n)
	for i := range parts {
		parts[i], reqs[i] = i, kafka.LastOffsetOf(i)
	}
	for range 2 {
		lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
		if err != nil {
			return fmt.Errorf("repartition topic %q: end offsets: %w", topic, err)
		}
		ends := make(map[int]int64, n)
		for _, p := range lo.Topics[topic] {
			if p.Error != nil {
				return fmt.Errorf("repartition topic %q partition %d: end offset: %w", topic, p.Partition, p.Error)
			}
			ends[p.Partition] = p.LastOffset
		}
		for {
			res, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.GroupID, Topics: map[string][]int{topic: parts}})
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("group %q: committed offsets: %w", cfg.GroupID, err)
			}
			behind := 0
			if err == nil {
				committed := make(map[int]int64, n)
				for _, p := range res.Topics[topic] {
					committed[p.Partition] = p.CommittedOffset
				}
				for p, end := range ends {
					if end > 0 && committed[p] < end {
						behind++
					}
				}
			}
			if err == nil && behind == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%d partition(s) have not confirmed: %w", behind, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}
