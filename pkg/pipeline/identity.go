package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/outbox"
	"github.com/journey-dev/journey/pkg/sink"
)

// Identity routing (DESIGN.md, "Identity"): every event is folded under
// its canonical customer, on that customer's partition.
//
// The identity table is the journey.Identity processor's state, so an id's
// entry lives with its state on partition murmur2(id) — the partition a
// Java producer keying by that id would pick. A worker reads a record's
// address (the event's customer id as decoded, or the address a forwarded
// record carries): on another partition, the record is forwarded there;
// here, if the id was linked (Parent), it moves on to the parent; else
// the event is folded under it. Forwarding goes through the outbox
// (outbox.KindForward): committed with the round that decided it, produced
// to the repartition topic by the dispatcher, de-duplicated by event id
// where it is folded.
//
// An event folded under C that carries another id X (an anonymous id with
// a user id, an alias's previous id) links X to C: C claims X in its entry
// and sends a link to X's partition. There, unless X already belongs to
// another customer (a conflict: counted, X stays), X's entry points at C,
// and X's states and timers leave in a merge record for C's partition,
// which merges them (journey.Runner.Merge) once: C's entry records X
// merged. Links and merges addressed to this partition are handled at
// once, in the round.

// IdentityConfig configures identity routing.
type IdentityConfig struct {
	// Topic is the repartition topic (empty: identity is off).
	Topic string
	// MaxIDs bounds the ids linked to one customer (default 100).
	MaxIDs int
	// ForgottenTopic is the forget ledger (ledger.go); empty: none (a
	// replay then does not know the forgotten ids).
	ForgottenTopic string
}

// Repartition-topic record headers.
const (
	// HeaderRoute is what a repartition record is: routeEvent,
	// routeLink or routeMerge.
	HeaderRoute = "journey_route"
	// HeaderRouteTo is the id a record is addressed to.
	HeaderRouteTo = "journey_route_to"
	// HeaderRouteTopic is the input topic a forwarded event was read from
	// (its channel may come from the topic).
	HeaderRouteTopic = "journey_route_topic"
)

const (
	routeEvent = "event"
	routeLink  = "link"
	routeMerge = "merge"
	// maxHops bounds the parents followed on one partition: links point
	// at canonical customers, so a chain is as long as the aliases of
	// aliases (and a cycle cannot form), but a bound costs nothing.
	maxHops = 16
	// fieldMergedInto is the context field of a merged id.
	fieldMergedInto = "merged_into"
)

// partitionOf is the partition of id among n: Java's default partitioner
// (murmur2 of the key's bytes, made positive, modulo n).
// PartitionOf is the partition of n where identity routing keeps id's
// state: murmur2(id) mod n, as Java's default partitioner places a key.
func PartitionOf(id string, n int) int { return partitionOf(id, n) }

func partitionOf(id string, n int) int {
	return int(murmur2([]byte(id))&0x7fffffff) % n
}

// murmur2 is Kafka's Java client's murmur2 hash.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// linkMsg asks the partition of ID to link it to Into.
type linkMsg struct {
	ID   string    `json:"id"`
	Into string    `json:"into"`
	At   time.Time `json:"at"`
}

// mergeMsg carries a linked customer's whole journey to the partition of
// the customer it was linked to.
type mergeMsg struct {
	From string    `json:"from"`
	Into string    `json:"into"`
	At   time.Time `json:"at"`
	// IDs were linked to From: they follow it.
	IDs    []string        `json:"ids,omitempty"`
	States []movedState    `json:"states,omitempty"`
	Timers []journey.Timer `json:"timers,omitempty"`
}

// movedState is one processor's encoded state in a merge.
type movedState struct {
	Processor string `json:"processor"`
	Version   uint32 `json:"version"`
	Data      []byte `json:"data"`
}

// identityCounts are a round's identity figures, counted once it commits.
type identityCounts struct {
	routed, linked, merged, limit, conflicts int
	// forgotten counts the ids erased, forgottenEvents the events, links
	// and merges dropped because they named a forgotten id (forget.go).
	forgotten, forgottenEvents int
	// forgetsExpired counts the forgotten ids dropped from the set after
	// privacy.forget_retention.
	forgetsExpired int
}

// headerOf returns the value of header key of m, or "".
func headerOf(m *kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// routed reports whether identity routing is on.
func (p *Pipeline) routed() bool { return p.cfg.Identity.Topic != "" }

// resolve finds where the event ev, addressed to id, is folded: its
// canonical customer, when that lives on this partition (ok), else the
// record is forwarded to the partition that knows more, and ok is false.
// Passing through a linked id here, the event is dropped as a duplicate
// (dup) when this partition folded it already: a producer's retry folded
// under the id before its link would otherwise reach the canonical
// customer too, whose partition never saw the first copy.
func (w *worker) resolve(tx *tx, m *kafka.Message, ev *journey.Event, id string) (canonical string, ok, dup bool, err error) {
	for range maxHops {
		if q := partitionOf(id, w.p.parts); q != w.id {
			fm, err := w.forwardable(m)
			if err != nil {
				return "", false, false, err
			}
			tx.forward(fm, routeEvent, id, q, fm.Value)
			return "", false, false, nil
		}
		_, st, err := w.runner.Identity(id)
		if err != nil {
			return "", false, false, err
		}
		if st.Parent == "" {
			return id, true, false, nil
		}
		if seen, err := tx.b.Seen(ev.ID, ev.Time); err != nil || seen {
			return "", false, seen, err
		}
		id = st.Parent
	}
	return id, true, false, nil // not reached: links point at canonical customers
}

// forwardable is m as it is forwarded: with pseudonymous ids, its ids
// replaced by their pseudonyms (once), so the forward holds no raw id.
func (w *worker) forwardable(m *kafka.Message) (*kafka.Message, error) {
	ps := w.p.cfg.Privacy.Pseudonyms
	if ps == nil || w.pseudonymized(m) {
		return m, nil
	}
	v, hs, err := ps.Record(record(m))
	if err != nil {
		return nil, fmt.Errorf("pseudonymizing the record at offset %d for its forward: %w", m.Offset, err)
	}
	fm := *m
	fm.Value, fm.Headers = v, make([]kafka.Header, len(hs))
	for i, h := range hs {
		fm.Headers[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return &fm, nil
}

// link links the ids ev carries besides route (the id it was addressed
// to) to canonical, the customer it was folded under.
func (w *worker) link(tx *tx, ev *journey.Event, route, canonical string) error {
	ids := ev.LinkIDs(route, canonical)
	if len(ids) == 0 {
		return nil
	}
	c, st, err := w.runner.Identity(canonical)
	if err != nil {
		return err
	}
	for _, x := range ids {
		if st.Find(x) >= 0 {
			continue
		}
		if len(st.Linked) >= w.p.cfg.Identity.MaxIDs {
			tx.ids.limit++
			continue
		}
		st.Claim(x)
		w.runner.MarkIdentity(c)
		tx.ids.linked++
		if err := w.sendLink(tx, linkMsg{ID: x, Into: canonical, At: ev.Time}); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) sendLink(tx *tx, l linkMsg) error {
	if q := partitionOf(l.ID, w.p.parts); q != w.id {
		v, err := json.Marshal(l)
		if err != nil {
			return err
		}
		tx.forward(nil, routeLink, l.ID, q, v)
		return nil
	}
	return w.onLink(tx, l)
}

// onLink links l.ID (whose entry is on this partition) to l.Into: its
// states and timers leave for l.Into's partition, and its context hash
// says where it went. A link already made is a no-op; an id linked to
// another customer stays there (a conflict).
func (w *worker) onLink(tx *tx, l linkMsg) error {
	if l.ID == l.Into {
		return nil
	}
	if gone, err := w.dropForgotten(tx, l.ID); gone || err != nil {
		return err
	}
	c, st, err := w.runner.Identity(l.ID)
	if err != nil {
		return err
	}
	switch st.Parent {
	case l.Into:
		return nil
	case "":
	default:
		tx.ids.conflicts++
		return nil
	}
	mm := mergeMsg{From: l.ID, Into: l.Into, At: l.At}
	for _, x := range st.Linked {
		mm.IDs = append(mm.IDs, x.ID)
	}
	st.Parent, st.Linked = l.Into, nil
	w.runner.MarkIdentity(c)
	w.runner.Pointer(c)
	// An id seen only beside its customer's (an anonymous id every event
	// of a known customer carries) has nothing to move: no state stored,
	// none folded since the round began.
	moved := c.Stored || c.IsDirty() && w.anyDirtyState(c)
	if moved {
		if err := w.moveOut(tx, c, &mm); err != nil {
			return err
		}
	}
	if !w.p.cfg.DiscardOutput {
		// The hash is deleted only when a state moved: an id with no state
		// here has none (a hash comes from a state folded on the id's
		// partition), and a delete per link cost ~15 % of the throughput
		// with 40 % anonymous traffic (bench/README). Not covered: a hash
		// left by identity routing off with a non-murmur2 producer, or by
		// a processor since disabled; it keeps its fields beside
		// merged_into until redis.context_ttl.
		if moved {
			del, _ := outbox.EncodeContext(sink.Context{CustomerID: l.ID, Delete: true}, tx.lastRecord)
			tx.b.Append(outbox.KindContext, del)
		}
		into, _ := outbox.EncodeContext(sink.Context{CustomerID: l.ID, Fields: map[string]string{fieldMergedInto: l.Into}}, tx.lastRecord)
		tx.b.Append(outbox.KindContext, into)
	}
	if len(mm.States) == 0 && len(mm.Timers) == 0 && len(mm.IDs) == 0 {
		// Nothing moves (the usual case: the anonymous id every event of a
		// known customer carries): the link is the whole merge, and the
		// customer keeps the id claimed. No record goes back.
		tx.ids.merged++
		return nil
	}
	return w.sendMerge(tx, mm)
}

// moveOut detaches c's states and timers into mm.
func (w *worker) moveOut(tx *tx, c *journey.Customer, mm *mergeMsg) error {
	from, err := w.runner.Detach(c.ID)
	if err != nil {
		return err
	}
	procs := w.p.engine.Processors()
	for i, s := range from {
		if s == nil {
			continue
		}
		data, err := s.MarshalBinary()
		if err != nil {
			return fmt.Errorf("encode %s state: %w", procs[i].Name(), err)
		}
		mm.States = append(mm.States, movedState{Processor: procs[i].Name(), Version: procs[i].StateVersion(), Data: data})
	}
	mm.Timers, err = tx.b.TakeTimers(c.ID)
	return err
}

// anyDirtyState reports whether a processor state of c (not its identity
// entry) changed since it was loaded.
func (w *worker) anyDirtyState(c *journey.Customer) bool {
	for i, p := range w.p.engine.Processors() {
		if c.Dirty[i] && p.Name() != journey.IdentityName {
			return true
		}
	}
	return false
}

func (w *worker) sendMerge(tx *tx, mm mergeMsg) error {
	if q := partitionOf(mm.Into, w.p.parts); q != w.id {
		v, err := json.Marshal(mm)
		if err != nil {
			return err
		}
		tx.forward(nil, routeMerge, mm.Into, q, v)
		return nil
	}
	return w.onMerge(tx, mm)
}

// onMerge merges mm.From's journey into mm.Into (on this partition), once;
// a customer that was itself linked since passes it on to its parent.
func (w *worker) onMerge(tx *tx, mm mergeMsg) error {
	if gone, err := w.dropForgotten(tx, mm.Into); gone || err != nil {
		return err
	}
	c, st, err := w.runner.Identity(mm.Into)
	if err != nil {
		return err
	}
	if st.Parent != "" {
		mm.Into = st.Parent
		return w.sendMerge(tx, mm)
	}
	if !st.Merged(mm.From) {
		return nil // delivered twice
	}
	for _, id := range mm.IDs {
		st.Merged(id)
	}
	w.runner.MarkIdentity(c)
	tx.ids.merged++
	if len(mm.States) == 0 && len(mm.Timers) == 0 {
		return nil // an id with no journey of its own
	}
	procs := w.p.engine.Processors()
	from := make([]journey.State, len(procs))
	for _, ms := range mm.States {
		i := w.p.procIndex(ms.Processor)
		if i < 0 {
			continue // a processor this build does not run: its state is not kept
		}
		if ms.Version != procs[i].StateVersion() {
			return fmt.Errorf("merge of %s state: version %d, this build reads version %d", ms.Processor, ms.Version, procs[i].StateVersion())
		}
		s := procs[i].NewState()
		if err := s.UnmarshalBinary(ms.Data); err != nil {
			return fmt.Errorf("decode merged %s state: %w", ms.Processor, err)
		}
		from[i] = s
	}
	w.mout.Reset()
	has := func(processor, key string) (bool, error) { return tx.b.HasTimer(mm.Into, processor, key) }
	if err := w.runner.Merge(mm.Into, from, mm.Timers, mm.At, has, &w.mout); err != nil {
		return err
	}
	return tx.emit(&w.mout, tx.lastRecord)
}

// control handles a link or merge record of the repartition topic.
func (w *worker) control(tx *tx, m *kafka.Message, kind string) error {
	switch kind {
	case routeLink:
		var l linkMsg
		if err := json.Unmarshal(m.Value, &l); err != nil {
			return fmt.Errorf("repartition record at offset %d: %w", m.Offset, err)
		}
		return w.onLink(tx, l)
	case routeMerge:
		var mm mergeMsg
		if err := json.Unmarshal(m.Value, &mm); err != nil {
			return fmt.Errorf("repartition record at offset %d: %w", m.Offset, err)
		}
		return w.onMerge(tx, mm)
	case routeForget:
		var f forgetMsg
		if err := json.Unmarshal(m.Value, &f); err != nil {
			return fmt.Errorf("repartition record at offset %d: %w", m.Offset, err)
		}
		return w.onForget(tx, f)
	}
	return fmt.Errorf("repartition record at offset %d: unknown %s %q", m.Offset, HeaderRoute, kind)
}

// forward appends to the outbox a record for partition q of the
// repartition topic, addressed to id: m's (an event, value v) with its
// headers, or a control record (m nil).
func (t *tx) forward(m *kafka.Message, kind, id string, q int, v []byte) {
	f := outbox.Forward{Partition: q, Key: []byte(id), Value: v, Time: t.lastRecord}
	if m != nil {
		f.Time = m.Time
		topic := m.Topic
		for _, h := range m.Headers {
			switch h.Key {
			case HeaderRoute, HeaderRouteTo:
			case HeaderRouteTopic:
				topic = string(h.Value)
			default:
				f.Headers = append(f.Headers, outbox.Header{Key: h.Key, Value: h.Value})
			}
		}
		f.Headers = append(f.Headers, outbox.Header{Key: HeaderRouteTopic, Value: []byte(topic)})
		t.ids.routed++
	}
	f.Headers = append(f.Headers, outbox.Header{Key: HeaderRoute, Value: []byte(kind)},
		outbox.Header{Key: HeaderRouteTo, Value: []byte(id)})
	t.b.Append(outbox.KindForward, outbox.EncodeForward(&f))
	t.fwdOut++
}

// procIndex is the index of the processor named name, or -1.
func (p *Pipeline) procIndex(name string) int {
	for i, pr := range p.engine.Processors() {
		if pr.Name() == name {
			return i
		}
	}
	return -1
}

// forwarder produces the outbox's forwarded records to the repartition
// topic, each to the partition it names, and the forget ledger's entries
// to the ledger (ledger.go). Each sender partition's dispatcher has a
// writer of its own (from): kafka-go batches the records of concurrent
// calls to one partition together, so with a shared writer one sender's
// records could be split across two produce requests, the second landing
// while the first failed.
type forwarder struct {
	brokers       []string
	tr            *kafka.Transport
	topic, ledger string

	mu sync.Mutex
	ws map[int]*kafka.Writer // by sender partition
}

// forwardChunk is the most records of one call written to one partition
// in one produce request: kafka-go allocates (and clears) a batch of
// BatchSize messages per partition a call writes to, so at 10,000 each
// live round's single forward cost 1.5 MB, and the heap's churn kept the
// collector running. A call's larger runs go as several requests, each
// after the one before it was acknowledged.
const forwardChunk = 256

type topicPartition struct {
	topic     string
	partition int
}

func newForwarder(brokers []string, topic, ledger string, tr *kafka.Transport) *forwarder {
	return &forwarder{brokers: brokers, tr: tr, topic: topic, ledger: ledger, ws: map[int]*kafka.Writer{}}
}

// from is the forwarder of sender's dispatcher.
func (f *forwarder) from(sender int) outbox.Forwarder {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.ws[sender]
	if w == nil {
		w = &kafka.Writer{
			Addr:         kafka.TCP(f.brokers...),
			Balancer:     kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }),
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: time.Millisecond,
			BatchSize:    forwardChunk,
			BatchBytes:   16 << 20,
			MaxAttempts:  1, // the dispatcher retries, with backoff
			Transport:    f.tr,
		}
		f.ws[sender] = w
	}
	return senderWriter{f, w}
}

type senderWriter struct {
	f *forwarder
	w *kafka.Writer
}

// Forward implements outbox.Forwarder. Errors are retriable: the
// dispatcher keeps the entries and tries again. Records for one partition
// keep their order: at most forwardChunk of them per request, each
// request after the last was acknowledged (the partitions' requests go
// together).
func (s senderWriter) Forward(ctx context.Context, fs []outbox.Forward) error {
	f := s.f
	msgs := make([]kafka.Message, len(fs))
	for i, x := range fs {
		hs := make([]kafka.Header, len(x.Headers))
		for j, h := range x.Headers {
			hs[j] = kafka.Header{Key: h.Key, Value: h.Value}
		}
		msgs[i] = kafka.Message{Topic: f.topic, Partition: x.Partition, Key: x.Key, Value: x.Value, Headers: hs, Time: x.Time}
		if isLedger(x.Headers) {
			if f.ledger == "" {
				return fmt.Errorf("outbox: a forget ledger entry, and no privacy.forgotten_topic")
			}
			msgs[i].Topic, msgs[i].Partition = f.ledger, 0
		}
	}
	for len(msgs) > 0 {
		if len(msgs) <= forwardChunk { // a live round's few: no partition can have more
			return s.write(ctx, msgs)
		}
		// The longest prefix with at most forwardChunk records for any one
		// topic partition goes in one call.
		n, per := 0, map[topicPartition]int{}
		for ; n < len(msgs); n++ {
			tp := topicPartition{msgs[n].Topic, msgs[n].Partition}
			if per[tp] == forwardChunk {
				break
			}
			per[tp]++
		}
		if err := s.write(ctx, msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// write produces msgs in one call; errors are retriable.
func (s senderWriter) write(ctx context.Context, msgs []kafka.Message) error {
	if err := s.w.WriteMessages(ctx, msgs...); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: repartition topic: %w", sink.ErrRetriable, err)
	}
	return nil
}

// Close closes the writers.
func (f *forwarder) Close() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, w := range f.ws {
		errs = append(errs, w.Close())
	}
	return errors.Join(errs...)
}

var errNoRoute = errors.New("pipeline: identity routing needs the journey.Identity processor in the engine")

// inputs are the topics a worker reads: the input topics, and the
// repartition topic when identity routing is on.
func (p *Pipeline) inputs() []string {
	if !p.routed() {
		return p.cfg.Topics
	}
	return append(slices.Clone(p.cfg.Topics), p.cfg.Identity.Topic)
}

// ensureRepartition creates the repartition topic with the input's
// partition count, or checks the existing one has it.
func (p *Pipeline) ensureRepartition(ctx context.Context, partitions int) error {
	topic := p.cfg.Identity.Topic
	if n, ok := p.admin.Exists(ctx, topic); ok {
		if n != partitions {
			return fmt.Errorf("identity.topic: %q has %d partitions and the input topics %d: it must be co-partitioned with the input",
				topic, n, partitions)
		}
		return nil
	}
	if err := p.admin.CreateTopic(ctx, repartitionTopicConfig(topic, partitions, -1)); err != nil {
		return fmt.Errorf("identity.topic: %w", err)
	}
	p.log.Info("created repartition topic", zap.String("topic", topic), zap.Int("partitions", partitions))
	return nil
}

// repartitionTopicConfig is the repartition topic's: the input's
// partition count, time-based retention (a week: a record is consumed
// within moments, the rest is for replays and inspection), and records up
// to 16 MiB (a merged customer's whole state is one record).
func repartitionTopicConfig(topic string, partitions, replicationFactor int) kafka.TopicConfig {
	return kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: replicationFactor,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "delete"},
			{ConfigName: "retention.ms", ConfigValue: "604800000"},
			{ConfigName: "max.message.bytes", ConfigValue: "16777216"},
		}}
}

// countIdentity adds a committed round's identity figures.
func (t *tx) countIdentity() {
	n, m := t.ids, t.w.p.metrics
	if n == (identityCounts{}) {
		return
	}
	m.Forgotten.Add(float64(n.forgotten))
	m.ForgottenEvents.Add(float64(n.forgottenEvents))
	m.ForgetsExpired.Add(float64(n.forgetsExpired))
	for what, v := range map[string]int{"routed": n.routed, "linked": n.linked, "merged": n.merged, "limit": n.limit} {
		if v > 0 {
			m.Identity.WithLabelValues(what).Add(float64(v))
		}
	}
	m.IdentityConflicts.Add(float64(n.conflicts))
}
