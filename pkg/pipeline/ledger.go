package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/kafkaio"
	"github.com/journey-dev/journey/pkg/outbox"
)

// The forget ledger (Identity.ForgottenTopic, privacy.forgotten_topic):
// a compacted topic of one partition with a record per forgotten id,
// keyed by the hex of its keyed hash (forgetSum) — never the id. Its value
// (ledgerEntry) says which partition forgot it and when, and what was
// erased.
//
// The owning worker appends the entry to its outbox in the round that
// erases the customer, as a forward produced after the entries before it
// (outbox.KindForwardAfter): it reaches the topic once the round is
// committed and the customer's Redis erase is done, and is produced again
// after a crash until it is. So:
//
//   - a replay, and a live run on a state directory without the changelog,
//     read the ledger at start (loadLedger) and add its unexpired entries
//     to each partition's forgotten set: a replay into a fresh directory
//     never resurrects a forgotten customer;
//   - `journey forget --wait` follows the ledger from where it ended when
//     the requests were written, and returns once every requested id and
//     the ids linked to it have their entry (ForgetRequest.Wait).

// routeForgotten marks a forwarded record as a ledger entry (HeaderRoute):
// the forwarder produces it to the ledger instead of the repartition topic.
const routeForgotten = "forgotten"

// ledgerVersion is ledgerEntry's.
const ledgerVersion = 1

// ledgerEntry is the value of a ledger record.
type ledgerEntry struct {
	V int `json:"v"`
	// Partition is the partition that forgot the id.
	Partition int `json:"partition"`
	// At is when it was forgotten (Unix seconds, the wall clock).
	At int64 `json:"at"`
	// Root is the hex hash of the id whose forget request led here (the
	// id itself for a requested one).
	Root string `json:"root"`
	// Next are the hex hashes of the ids this forget was sent on to (the
	// ids linked to it): each gets an entry of its own, with the same
	// Root.
	Next []string `json:"next,omitempty"`
	// Already: the id had been forgotten before; nothing was erased now.
	Already bool `json:"already,omitempty"`
	// States are the processors whose state of the customer was erased
	// (not empty), Timers the pending timers dropped.
	States []string `json:"states,omitempty"`
	Timers int      `json:"timers,omitempty"`
}

// forgottenTopicConfig is the ledger's: one partition (the whole ledger is
// read at start), compacted (one record per id), kept for good; entries
// older than the forget retention are ignored when read.
func forgottenTopicConfig(topic string, replicationFactor int) kafka.TopicConfig {
	return kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: replicationFactor,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}}
}

// ensureLedger creates the ledger when it is missing.
func (p *Pipeline) ensureLedger(ctx context.Context) error {
	topic := p.cfg.Identity.ForgottenTopic
	if topic == "" {
		return nil
	}
	if _, ok := p.admin.Exists(ctx, topic); ok {
		return nil
	}
	if err := p.admin.CreateTopic(ctx, forgottenTopicConfig(topic, -1)); err != nil {
		return fmt.Errorf("privacy.forgotten_topic: %w", err)
	}
	p.log.Info("created forget ledger topic", zap.String("topic", topic))
	return nil
}

// loadLedger reads the whole ledger into p.ledger (partition -> hash ->
// when forgotten), leaving out entries past the forget retention. A
// missing ledger is an empty one.
func (p *Pipeline) loadLedger(ctx context.Context) error {
	topic := p.cfg.Identity.ForgottenTopic
	if topic == "" {
		return nil
	}
	if _, ok := p.admin.Exists(ctx, topic); !ok {
		return nil
	}
	sums := map[[sha256.Size]byte]ledgerEntry{}
	n, err := readLedger(ctx, p.cfg.Brokers, p.dialer, p.log, topic, -1, func(m kafka.Message) bool {
		var s [sha256.Size]byte
		if hex.DecodedLen(len(m.Key)) != len(s) {
			return true
		}
		if _, err := hex.Decode(s[:], m.Key); err != nil {
			return true
		}
		var e ledgerEntry
		switch {
		case m.Value == nil:
			delete(sums, s) // a tombstone
		case json.Unmarshal(m.Value, &e) == nil:
			if old, ok := sums[s]; !ok || !e.Already || old.Already {
				sums[s] = e
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("privacy.forgotten_topic %q: %w", topic, err)
	}
	horizon := int64(0)
	if ret := p.cfg.Privacy.ForgetRetention; ret > 0 {
		horizon = time.Now().Add(-ret).Unix()
	}
	p.ledger = map[int]map[[sha256.Size]byte]int64{}
	kept := 0
	for s, e := range sums {
		if e.At < horizon {
			continue
		}
		if p.ledger[e.Partition] == nil {
			p.ledger[e.Partition] = map[[sha256.Size]byte]int64{}
		}
		p.ledger[e.Partition][s] = e.At
		kept++
	}
	p.log.Info("read the forget ledger", zap.String("topic", topic), zap.Int("records", n), zap.Int("forgotten", kept))
	return nil
}

// readLedger calls fn with each record of the ledger from offset from
// (-1: its first) up to where it ended when called, until fn returns
// false; it returns the number of records read.
func readLedger(ctx context.Context, brokers []string, dialer *kafka.Dialer, log *zap.Logger, topic string, from int64,
	fn func(kafka.Message) bool) (int, error) {
	a := kafkaio.NewAdmin(brokers, dialer, log)
	first, end, err := a.Offsets(ctx, topic, 0, 3)
	if err != nil {
		return 0, err
	}
	if from < first {
		from = first
	}
	if from >= end {
		return 0, nil
	}
	msgs, stop, err := kafkaio.Tail(ctx, brokers, dialer, log, topic, 0, from, end)
	if err != nil {
		return 0, err
	}
	defer stop()
	n := 0
	for m := range msgs {
		n++
		if !fn(m) {
			return n, nil
		}
	}
	return n, ctx.Err()
}

// mergeLedger adds the ledger's entries for the worker's partition that
// its stored set lacks; the next round writes the set.
func (w *worker) mergeLedger() {
	for s, at := range w.p.ledger[w.id] {
		if _, ok := w.forgot.set[s]; ok {
			continue
		}
		w.forgot.set[s] = at
		if w.forgot.oldest == 0 || at < w.forgot.oldest {
			w.forgot.oldest = at
		}
		w.forgot.unsaved = true
	}
}

// appendLedger puts id's ledger entry in the round's outbox (none in a
// replay, or without a ledger).
func (w *worker) appendLedger(tx *tx, sum [sha256.Size]byte, e ledgerEntry) {
	if w.p.cfg.Identity.ForgottenTopic == "" || w.replay != nil || w.p.cfg.DiscardOutput {
		return
	}
	e.V, e.Partition = ledgerVersion, w.id
	v, err := json.Marshal(e)
	if err != nil {
		return // a struct of strings and numbers: cannot fail
	}
	f := outbox.Forward{Key: []byte(hex.EncodeToString(sum[:])), Value: v, Time: time.Now(),
		Headers: []outbox.Header{{Key: HeaderRoute, Value: []byte(routeForgotten)}}}
	tx.b.Append(outbox.KindForwardAfter, outbox.EncodeForward(&f))
}

// isLedger reports whether a forwarded record is a ledger entry.
func isLedger(hs []outbox.Header) bool {
	for _, h := range hs {
		if h.Key == HeaderRoute {
			return string(h.Value) == routeForgotten
		}
	}
	return false
}
