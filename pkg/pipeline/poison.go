package pipeline

import (
	"fmt"
	"slices"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
)

// This file is what a round does when a processor fails (DESIGN.md,
// "Commit protocol", step 3): an error or a panic on one event, or in one
// timer's OnTimer, is a *journey.FoldError. The processors changed the
// round's customers in place, so the round is abandoned (its batch and
// cached customers dropped, as for any abandoned round), the records
// folded before the failure are committed as a round of their own, and the
// rest is folded again without the failure: the record is dead-lettered
// (ReasonFold), the timer disarmed without firing (counted in
// journey_timers_dropped_total). Folds are deterministic, so whichever
// rounds a replay cuts, it fails on, and skips, the same record or timer
// at the same point: the record has no effect at all, as if it were not
// in the topic; the timer fires as a no-op. Committing the prefix, rather
// than folding the whole round again, folds each record at most twice
// however many of a round's records fail.

// ReasonFold is the dead-letter reason of an event a processor failed on
// (an error or a panic). The message names the processor and the error
// text, or only the type of a panic's value.
const ReasonFold ingest.Reason = "fold_violation"

// poison is what the worker's round in progress found to fail a fold, to
// skip when it folds that part again. The worker empties it after each
// round.
type poison struct {
	records map[recordKey]string  // the dead letter's message
	timers  map[timerKey]struct{} // removed once a commit dropped them
}

type recordKey struct {
	topic  string
	offset int64
}

type timerKey struct {
	at                       int64
	customer, processor, key string
}

func keyOf(t journey.Timer) timerKey {
	return timerKey{at: t.At.UnixNano(), customer: t.Customer, processor: t.Processor, key: t.Key}
}

func (p *poison) clear() {
	clear(p.records)
	clear(p.timers)
}

// poisonAt is fold's report that a processor failed while folding the
// index-th of its records: on the record itself, or on a timer its time
// made due (timer). again: a timer re-armed at the same time, failing
// after its first pop was dropped in the same commit.
type poisonAt struct {
	index        int
	timer, again bool
	fe           *journey.FoldError
}

// stuck is the error of a failure that folding again from the same
// record would meet again: a timer re-armed at its own time while it
// fires, failing each time. It stops the partition.
func (pa *poisonAt) stuck() error {
	return fmt.Errorf("%w (timer %s re-armed at its own fire time and failing again)", pa.fe, pa.fe.Timer.Key)
}

func (*poisonAt) Error() string {
	return "pipeline: a processor failed; folding the round again without it"
}

// poisoned logs fe, a processor's failure while folding m (nil in a
// tick), and remembers to skip what failed.
func (w *worker) poisoned(m *kafka.Message, index int, fe *journey.FoldError) error {
	fields := []zap.Field{zap.String("processor", fe.Processor), zap.Error(fe)}
	if fe.Stack != nil {
		fields = append(fields, zap.ByteString("stack", fe.Stack))
	}
	if t := fe.Timer; t != nil {
		if w.poison.timers == nil {
			w.poison.timers = map[timerKey]struct{}{}
		}
		k := keyOf(*t)
		w.poison.timers[k] = struct{}{}
		w.log.Error("processor failed on a timer: dropping the timer (fold_violation)",
			append(fields, zap.String("timer", t.Key), zap.Time("fire_at", t.At))...)
		return &poisonAt{index: index, timer: true, again: slices.Contains(w.cur.dropped, k), fe: fe}
	}
	if m == nil {
		return fe
	}
	if w.poison.records == nil {
		w.poison.records = map[recordKey]string{}
	}
	w.poison.records[recordKey{m.Topic, m.Offset}] = fe.Error()
	w.log.Error("processor failed on an event: dead-lettering it (fold_violation)",
		append(fields, zap.String("topic", m.Topic), zap.Int64("offset", m.Offset))...)
	return &poisonAt{index: index, fe: fe}
}

// poisonRecord returns the dead letter's message if m is a record a
// processor failed on.
func (w *worker) poisonRecord(m *kafka.Message) (string, bool) {
	if len(w.poison.records) == 0 {
		return "", false
	}
	msg, ok := w.poison.records[recordKey{m.Topic, m.Offset}]
	return msg, ok
}

// skipTimer is the runner's SkipTimer: true for a due timer whose
// OnTimer failed, the first time the commit in progress pops it (a
// later pop of the same key and time is a new arming).
func (w *worker) skipTimer(t journey.Timer) bool {
	if len(w.poison.timers) == 0 {
		return false
	}
	k := keyOf(t)
	if _, ok := w.poison.timers[k]; !ok || slices.Contains(w.cur.dropped, k) {
		return false
	}
	w.cur.dropped = append(w.cur.dropped, k)
	return true
}

// countDropped counts the timers tx dropped, now committed, and forgets
// them.
func (t *tx) countDropped() {
	for _, k := range t.dropped {
		delete(t.w.poison.timers, k)
		t.w.p.metrics.TimersDropped.WithLabelValues(k.processor, string(ReasonFold)).Inc()
	}
}
