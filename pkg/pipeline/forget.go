package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/state"
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
// retention). An id's hash is kept for Privacy.ForgetRetention by the
// wall clock (pruneForgotten), in the state store: a replay into a fresh
// state dir does not see it.

// routeForget is the route of a forget request.
const routeForget = "forget"

// forgottenCustomer and forgottenProcessor name the state key holding a
// partition's forgotten set: 40-byte entries sorted by their first 32, the
// HMAC, then the time of the forget (Unix seconds, big-endian); version 1
// held the HMACs alone (read as forgotten at load). No customer id from
// ingest starts with a NUL byte in practice; the key sorts before all.
const (
	forgottenCustomer  = "\x00forgotten"
	forgottenProcessor = "forget"
	forgottenVersion   = 2
	forgottenVersionV1 = 1
	forgottenEntry     = sha256.Size + 8
)

// MinForgetRetention is the least time a forgotten id's hash is kept.
const MinForgetRetention = 30 * 24 * time.Hour

// forgetMsg asks the partition of ID to forget it.
type forgetMsg struct {
	ID string `json:"id"`
	// Root is the hex hash of the id whose forget request led here
	// (ledgerEntry.Root); empty in a request: the id's own.
	Root string `json:"root,omitempty"`
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
	// ForgetRetention is how long a forgotten id's hash is kept, by the
	// wall clock, after its forget: events of the id arriving later are
	// folded again. 0: Run sets the input topics' longest retention.ms, at
	// least MinForgetRetention, or for good when a topic keeps records for
	// good (privacy.forget_retention).
	ForgetRetention time.Duration
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
	set    map[[sha256.Size]byte]int64 // HMAC -> when forgotten (Unix seconds)
	oldest int64                       // the least time in set (0 when empty)
	// unsaved: set holds forget ledger entries the store lacks; the next
	// round writes it.
	unsaved bool
	pub     atomic.Pointer[map[[sha256.Size]byte]int64]
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

// resolveForgetRetention sets Privacy.ForgetRetention when it is 0: the
// input topics' longest retention.ms, at least MinForgetRetention; it
// stays 0 (kept for good) when a topic keeps its records for good or its
// retention cannot be read — never shorter than the records it guards
// against.
func (p *Pipeline) resolveForgetRetention(ctx context.Context) {
	if !p.routed() || p.cfg.Privacy.ForgetRetention != 0 {
		return
	}
	longest := MinForgetRetention
	for _, t := range p.cfg.Topics {
		v, err := p.admin.TopicConfig(ctx, t, "retention.ms")
		ms, perr := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || perr != nil:
			p.log.Warn("reading an input topic's retention.ms; forgotten ids are kept for good", zap.String("topic", t), zap.Error(err))
			return
		case ms < 0:
			return // the topic keeps records for good: so are the forgotten ids
		}
		longest = max(longest, time.Duration(ms)*time.Millisecond)
	}
	p.cfg.Privacy.ForgetRetention = longest
}

// forgetSum is id's keyed hash.
func (p *Pipeline) forgetSum(id string) [sha256.Size]byte {
	return forgetHash(p.cfg.Privacy.Secret, id)
}

// forgetHash is HMAC-SHA256(secret, id).
func forgetHash(secret []byte, id string) [sha256.Size]byte {
	h := hmac.New(sha256.New, secret)
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
	entry, now := forgottenEntry, time.Now().Unix()
	data, found, err := w.sp.State(forgottenCustomer, forgottenProcessor, forgottenVersion)
	if errors.Is(err, state.ErrVersion) {
		entry = sha256.Size
		data, found, err = w.sp.State(forgottenCustomer, forgottenProcessor, forgottenVersionV1)
	}
	if err != nil {
		return fmt.Errorf("forgotten ids: %w", err)
	}
	if found && len(data)%entry != 0 {
		return fmt.Errorf("forgotten ids: %d bytes, not a multiple of %d", len(data), entry)
	}
	w.forgot.set = make(map[[sha256.Size]byte]int64, len(data)/entry)
	w.forgot.oldest = 0
	for i := 0; i+entry <= len(data); i += entry {
		at := now // version 1: kept from now on
		if entry == forgottenEntry {
			at = int64(binary.BigEndian.Uint64(data[i+sha256.Size:]))
		}
		w.forgot.set[[sha256.Size]byte(data[i:i+sha256.Size])] = at
		if w.forgot.oldest == 0 || at < w.forgot.oldest {
			w.forgot.oldest = at
		}
	}
	w.mergeLedger()
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
	if err := w.pruneForgotten(tx); err != nil {
		return false, err
	}
	gone, err := w.isForgotten(id)
	if gone {
		tx.ids.forgottenEvents++
	}
	return gone, err
}

// onForget forgets f.ID (see the comment at the top), and records it in
// the forget ledger (ledger.go).
func (w *worker) onForget(tx *tx, f forgetMsg) error {
	if f.ID == "" || f.ID == forgottenCustomer {
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
	sum := w.p.forgetSum(f.ID)
	if f.Root == "" {
		f.Root = hex.EncodeToString(sum[:])
	}
	if err := w.pruneForgotten(tx); err != nil {
		return err
	}
	if gone, err := w.isForgotten(f.ID); gone || err != nil {
		if gone { // erased by a committed round already, or earlier in this one
			w.appendLedger(tx, sum, ledgerEntry{At: w.forgot.set[sum], Root: f.Root, Already: true})
		}
		return err
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
	e := ledgerEntry{Root: f.Root}
	for _, id := range next {
		s := w.p.forgetSum(id)
		e.Next = append(e.Next, hex.EncodeToString(s[:]))
	}
	from, err := w.runner.Detach(c.ID)
	if err != nil {
		return err
	}
	e.States = w.erasedStates(from)
	timers, err := tx.b.TakeTimers(c.ID) // dropped: nothing fires for it
	if err != nil {
		return err
	}
	e.Timers = len(timers)
	st.Parent, st.Linked = "", nil
	w.runner.MarkIdentity(c)
	if tx.erased == nil {
		tx.erased = make(map[string]bool)
	}
	tx.erased[c.ID] = true
	if !w.p.cfg.DiscardOutput {
		del, _ := outbox.EncodeContext(sink.Context{CustomerID: c.ID, Delete: true, Forget: true}, tx.lastRecord)
		tx.b.Append(outbox.KindContext, del)
	}
	if err := w.markForgotten(tx, c.ID); err != nil {
		return err
	}
	e.At = w.forgot.set[sum]
	w.appendLedger(tx, sum, e) // after the context deletion: produced once Redis is erased
	tx.ids.forgotten++
	for _, id := range next {
		if err := w.onForget(tx, forgetMsg{ID: id, Root: f.Root}); err != nil {
			return err
		}
	}
	return nil
}

// erasedStates names the processors whose state in from (Runner.Detach)
// was not empty.
func (w *worker) erasedStates(from []journey.State) []string {
	var names []string
	for i, p := range w.p.engine.Processors() {
		if i >= len(from) || from[i] == nil {
			continue
		}
		got, err1 := from[i].MarshalBinary()
		empty, err2 := p.NewState().MarshalBinary()
		if err1 != nil || err2 != nil || !bytes.Equal(got, empty) {
			names = append(names, p.Name())
		}
	}
	return names
}

// markForgotten adds id to the partition's forgotten set and writes the
// set in the batch (its changelog record with it).
func (w *worker) markForgotten(tx *tx, id string) error {
	if err := w.loadForgotten(); err != nil {
		return err
	}
	now := time.Now().Unix()
	w.forgot.set[w.p.forgetSum(id)] = now
	if w.forgot.oldest == 0 {
		w.forgot.oldest = now
	}
	w.writeForgotten(tx)
	return nil
}

// pruneForgotten drops, once per round, the forgotten ids kept longer
// than the retention, and writes the set in the batch if it changed (or
// holds ledger entries the store lacks).
func (w *worker) pruneForgotten(tx *tx) error {
	if tx.forgotPruned {
		return nil
	}
	tx.forgotPruned = true
	if err := w.loadForgotten(); err != nil {
		return err
	}
	changed := w.forgot.unsaved
	w.forgot.unsaved = false
	ret := w.p.cfg.Privacy.ForgetRetention
	if horizon := time.Now().Add(-ret).Unix(); ret > 0 && len(w.forgot.set) > 0 && w.forgot.oldest < horizon {
		w.forgot.oldest = 0
		for s, at := range w.forgot.set {
			switch {
			case at < horizon:
				delete(w.forgot.set, s)
				tx.ids.forgetsExpired++
				changed = true
			case w.forgot.oldest == 0 || at < w.forgot.oldest:
				w.forgot.oldest = at
			}
		}
	}
	if changed {
		w.writeForgotten(tx)
	}
	return nil
}

// writeForgotten writes the set in the batch (its changelog record with
// it) and publishes it.
func (w *worker) writeForgotten(tx *tx) {
	w.forgot.publish()
	sums := make([][sha256.Size]byte, 0, len(w.forgot.set))
	for s := range w.forgot.set {
		sums = append(sums, s)
	}
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return slices.Compare(a[:], b[:]) })
	data := make([]byte, 0, len(sums)*forgottenEntry)
	for _, s := range sums {
		data = append(data, s[:]...)
		data = binary.BigEndian.AppendUint64(data, uint64(w.forgot.set[s]))
	}
	tx.b.PutState(forgottenCustomer, forgottenProcessor, forgottenVersion, data)
}

// eraseIdentity reports whether the commit deletes c's identity entry
// with its states (c was forgotten in this round).
func (t *tx) eraseIdentity(c *journey.Customer) bool { return t.erased[c.ID] }

// ForgetRequest is forget requests written (Forget), to wait for.
type ForgetRequest struct {
	cfg Config
	log *zap.Logger
	ids []string
	// from is where the forget ledger ended before the requests were
	// written; -1: there is no ledger (instances of an older build).
	from int64
}

// Forget asks the workers owning ids to forget them: it produces a forget
// request per id to the repartition topic (cfg.Identity.Topic), acks=all,
// and returns once they are written. The erase happens when the owning
// partition's worker reads them, in its next round; Wait follows it.
func Forget(ctx context.Context, cfg Config, log *zap.Logger, ids []string) (*ForgetRequest, error) {
	topic := cfg.Identity.Topic
	if topic == "" {
		return nil, errors.New("forget needs identity routing (identity.enabled): requests travel on its repartition topic")
	}
	a := newTopicAdmin(cfg, log, 0)
	n, ok := a.Exists(ctx, topic)
	if !ok {
		return nil, fmt.Errorf("identity.topic %q does not exist: start 'journey run' once, or 'journey topics create'", topic)
	}
	msgs, err := ForgetMessages(ids, n)
	if err != nil {
		return nil, err
	}
	r := &ForgetRequest{cfg: cfg, log: log, ids: slices.Clone(ids), from: -1}
	if l := cfg.Identity.ForgottenTopic; l != "" {
		if _, ok := a.Exists(ctx, l); ok {
			if _, r.from, err = a.Offsets(ctx, l, 0, 3); err != nil {
				return nil, fmt.Errorf("privacy.forgotten_topic %q: %w", l, err)
			}
		}
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
		return nil, fmt.Errorf("repartition topic %q: %w", topic, err)
	}
	return r, nil
}

// Erasure is what was erased for one requested id, as its owners
// recorded it in the forget ledger.
type Erasure struct {
	// ID is the requested id.
	ID string
	// IDs counts the ids erased: the requested one and the ids linked to
	// it (each on its own partition); Partitions are theirs.
	IDs        int
	Partitions []int
	// States are the processors that held state of one of them, Timers
	// the pending timers dropped.
	States []string
	Timers int
	// Already: the id had been forgotten before; nothing was left.
	Already bool
	// Done: every entry the forget led to is in the ledger — the state,
	// timers and identity entries erased and committed (their changelog
	// tombstones written), the Redis context hashes, trigger-stream
	// entries and trigger-id keys deleted.
	Done bool

	// pending counts, by id hash, the entries still expected (the
	// requested id's, and those of the ids each entry's forget was sent
	// on to) less those seen: entries of different partitions reach the
	// ledger in any order, so a count may go below zero for a while. All
	// zero: every entry is in.
	pending map[string]int
	rootKey string
}

// add takes in one ledger entry of x's forget, keyed key.
func (x *Erasure) add(key string, e ledgerEntry) {
	x.pending[key]--
	for _, n := range e.Next {
		x.pending[n]++
	}
	if e.Already {
		x.Already = x.Already || key == x.rootKey
	} else {
		x.IDs++
		x.Timers += e.Timers
		if !slices.Contains(x.Partitions, e.Partition) {
			x.Partitions = append(x.Partitions, e.Partition)
		}
		for _, s := range e.States {
			if !slices.Contains(x.States, s) {
				x.States = append(x.States, s)
			}
		}
	}
	for _, n := range x.pending {
		if n != 0 {
			return
		}
	}
	x.Done = true
	slices.Sort(x.Partitions)
}

// Wait returns once every requested id, and every id linked to one, has
// been erased by its owner — state committed, Redis erased — with what
// was erased per id. On ctx's end it returns what it saw and an error
// naming the ids not confirmed. Without a forget ledger (instances of an
// older build), it waits for the consumer group to commit the requests
// and returns no Erasure.
func (r *ForgetRequest) Wait(ctx context.Context) ([]Erasure, error) {
	if r.from < 0 {
		return nil, WaitForgotten(ctx, r.cfg, r.log)
	}
	out := make([]Erasure, len(r.ids))
	byRoot := make(map[string]*Erasure, len(r.ids))
	for i, id := range r.ids {
		sum := forgetHash(r.cfg.Privacy.Secret, id)
		root := hex.EncodeToString(sum[:])
		out[i] = Erasure{ID: id, pending: map[string]int{root: 1}, rootKey: root}
		byRoot[root] = &out[i]
	}
	left := len(byRoot)
	a := newTopicAdmin(r.cfg, r.log, 0)
	msgs, stop, err := kafkaio.Tail(ctx, r.cfg.Brokers, kafkaio.WithTimeout(r.cfg.Dialer, a.timeout), r.log,
		r.cfg.Identity.ForgottenTopic, 0, r.from, -1)
	if err != nil {
		return nil, err
	}
	defer stop()
	for m := range msgs {
		var e ledgerEntry
		if json.Unmarshal(m.Value, &e) != nil {
			continue
		}
		if x := byRoot[e.Root]; x != nil && !x.Done {
			if x.add(string(m.Key), e); x.Done {
				if left--; left == 0 {
					return out, nil
				}
			}
		}
	}
	var missing []string
	for _, x := range out {
		if !x.Done {
			missing = append(missing, strconv.Quote(x.ID))
		}
	}
	return out, fmt.Errorf("not confirmed: %s: %w", strings.Join(missing, ", "), context.Cause(ctx))
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
