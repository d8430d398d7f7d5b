package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
)

// malformedMaxBytes is ingest.max_bytes in TestChaosMalformedRecords: small,
// so oversized records stay within the broker's limits.
const malformedMaxBytes = 64 << 10

// TestChaosMalformedRecords (issue 23, "fuzzed and malformed records mixed
// into live traffic") interleaves a good workload with records the decoder
// rejects — truncated JSON, wrong types, missing ids and keys, binary
// garbage, records over ingest.max_bytes, bad CloudEvents headers, invalid
// UTF-8, not-an-object values, bad times and random byte mutations of good
// events — generated deterministically, each checked in-process with
// ingest.NewDecoder. A generated record the decoder accepts is a good event
// (kept when the reference fold can place it: see mixMalformed). Every bad
// record ends in the dead-letter topic, once, with the reason the
// in-process decoder gives (tallied per reason, and in journey_dlq_total),
// and every good event is folded: state equals the reference fold,
// triggers are delivered once.
func TestChaosMalformedRecords(t *testing.T) {
	started := time.Now()
	const partitions = 4
	customers, perCustomer := chaosSize(40, 400), chaosSize(10, 25)
	bad := chaosSize(2000, 100000)
	e := newRigEnv(t, partitions)
	mix := mixMalformed(t, e.topic, crashWorkload(29, customers, perCustomer, workloadStart), bad, 31)
	wantStates, wantTriggers := expectedFold(t, crashProcessors, e.topic, partitions, mix.good)
	if len(wantTriggers) == 0 {
		t.Fatal("the workload yields no triggers; not a meaningful test")
	}
	t.Logf("%d good records (%d of them generated mutations the decoder accepts; %d more left out), %d malformed by reason %v (by kind %v)",
		len(mix.good), mix.accepted, mix.leftOut, mix.bad, mix.byReason, mix.byKind)

	cfg := e.config(t, crashProcessors+fmt.Sprintf("ingest:\n  max_bytes: %d\n", malformedMaxBytes))
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)
	produceMixed(t, e, mix.msgs, 200)
	row, metrics := foldOutcome(t, e, c, int64(len(mix.msgs)), crashProcessors, wantStates, wantTriggers)

	dls := e.deadLetters(t)
	got := map[string]int{}
	for _, d := range dls {
		if d.reason == "" {
			t.Errorf("a dead letter without a reason header (headers %v)", slices.Collect(maps.Keys(d.headers)))
		}
		got[d.reason]++
	}
	if !maps.Equal(got, mix.byReason) {
		t.Errorf("dead letters by reason %v, want %v (the in-process decoder's)", got, mix.byReason)
	}
	m, want := dlqMetric(metrics), map[string]float64{}
	for r, n := range mix.byReason {
		want[r] = float64(n)
	}
	for r, v := range m {
		if v == 0 {
			delete(m, r)
		}
	}
	if !maps.Equal(m, want) {
		t.Errorf("journey_dlq_total by reason %v, want %v", m, want)
	}

	row.Scenario = "malformed records in live traffic"
	row.Faults = fmt.Sprintf("%d malformed records (%s) among %d good, %d of them fuzzed records the decoder accepts (%d more left out)",
		mix.bad, tally(mix.byReason), len(mix.good), mix.accepted, mix.leftOut)
	row.Events, row.Malformed, row.DeadLettered = len(mix.good), mix.bad, len(dls)
	row.Took = time.Since(started)
	recordChaos(t, row)
	if len(dls) != mix.bad {
		t.Errorf("%d dead letters, want %d", len(dls), mix.bad)
	}
}

// mixed is mixMalformed's output.
type mixed struct {
	msgs []kafka.Message // the stream to produce
	good []kafka.Message // its good records, in order: for the reference fold
	// bad records, and how many the decoder rejects for each reason and
	// were made by each kind.
	bad              int
	byReason, byKind map[string]int
	// Generated records the decoder accepts: kept as good events, or left
	// out where the reference fold could not place them.
	accepted, leftOut int
}

// mixMalformed spreads n records the decoder (as journey runs it:
// ingest.max_bytes malformedMaxBytes) rejects evenly among good, each made
// from the good record before it, from seed. A generated record the
// decoder accepts stays as a good event when it is a Segment event (no
// headers) of that record's known customer, keyed by it, at its time, with
// an id of its own: then it lands on the same partition right after it, in
// order, and the reference fold (by record key, ids de-duplicated) folds
// it as journey does. Others are left out.
func mixMalformed(t *testing.T, topic string, good []kafka.Message, n int, seed uint64) mixed {
	t.Helper()
	dec, err := ingest.NewDecoder(ingest.Config{MaxBytes: malformedMaxBytes})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(m kafka.Message) (journey.Event, error) {
		return dec.Decode(ingest.Record{Topic: topic, Key: m.Key, Value: m.Value, Headers: ingestHeaders(m.Headers), Time: time.Now()})
	}
	ids := map[string]bool{}
	for _, m := range good {
		ev, err := decode(m)
		if err != nil {
			t.Fatal(err)
		}
		ids[ev.ID] = true
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	out := mixed{byReason: map[string]int{}, byKind: map[string]int{}}
	tries := 0
	for gi, src := range good {
		out.msgs, out.good = append(out.msgs, src), append(out.good, src)
		srcEv, _ := decode(src)
		for quota := (gi+1)*n/len(good) - gi*n/len(good); quota > 0; tries++ {
			if tries > 4*n {
				t.Fatalf("after %d tries only %d of %d records are rejected: the generator makes too many valid events", tries, out.bad, n)
			}
			kind, m := malformedRecord(rng, src, tries)
			ev, err := decode(m)
			var ie *ingest.Error
			switch {
			case err == nil:
				out.accepted++
				if len(m.Headers) > 0 || ids[ev.ID] || ev.UserID == "" || ev.CustomerID != ev.UserID ||
					string(m.Key) != ev.UserID || !ev.Time.Equal(srcEv.Time) {
					out.accepted--
					out.leftOut++
					continue
				}
				ids[ev.ID] = true
				out.msgs, out.good = append(out.msgs, m), append(out.good, m)
				continue
			case !errors.As(err, &ie):
				t.Fatalf("kind %s: the decoder's error is not an *ingest.Error: %v", kind, err)
			}
			out.msgs = append(out.msgs, m)
			out.bad++
			out.byReason[string(ie.Reason)]++
			out.byKind[kind]++
			quota--
		}
	}
	return out
}

func ingestHeaders(hs []kafka.Header) []ingest.Header {
	var out []ingest.Header
	for _, h := range hs {
		out = append(out, ingest.Header{Key: h.Key, Value: h.Value})
	}
	return out
}

// malformedRecord makes one malformed record of a random kind from src, a
// good record; i makes its ids unique.
func malformedRecord(rng *rand.Rand, src kafka.Message, i int) (string, kafka.Message) {
	var v map[string]any
	_ = json.Unmarshal(src.Value, &v) // the workload's own JSON
	v["messageId"] = fmt.Sprintf("bad-%d", i)
	key := src.Key
	if rng.IntN(4) == 0 {
		key = nil
	}
	enc := func(v any) []byte { b, _ := json.Marshal(v); return b }
	rec := func(value []byte, hs ...kafka.Header) kafka.Message {
		return kafka.Message{Key: key, Value: value, Headers: hs}
	}
	switch r := rng.IntN(100); {
	case r < 12: // truncated JSON
		b := enc(v)
		return "truncated", rec(b[:rng.IntN(len(b))])
	case r < 24: // a field of the wrong type
		field := []string{"messageId", "userId", "timestamp", "type", "event", "context"}[rng.IntN(6)]
		v[field] = []any{42, true, 3.5, []any{1}, map[string]any{"x": 1}}[rng.IntN(5)]
		return "wrong_type", rec(enc(v))
	case r < 34: // a missing or empty id or key
		switch rng.IntN(4) {
		case 0:
			delete(v, "messageId")
		case 1:
			v["messageId"] = ""
		case 2:
			delete(v, "userId")
		default:
			v["userId"], v["anonymousId"] = "", nil
		}
		return "missing_id", rec(enc(v))
	case r < 44: // binary garbage
		b := make([]byte, 1+rng.IntN(512))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		return "garbage", rec(b)
	case r < 45: // over ingest.max_bytes
		v["properties"] = map[string]any{"padding": strings.Repeat("x", malformedMaxBytes+rng.IntN(malformedMaxBytes))}
		return "oversized", rec(enc(v))
	case r < 57: // CloudEvents binary mode with a bad header
		hs := []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte(fmt.Sprintf("bad-%d", i))},
			{Key: "ce_source", Value: []byte("/chaos")}, {Key: "ce_type", Value: []byte("com.example.product.viewed")},
			{Key: "ce_subject", Value: src.Key}, {Key: "ce_time", Value: []byte(v["timestamp"].(string))}}
		switch rng.IntN(6) {
		case 0:
			hs = slices.Delete(hs, 1, 2) // no ce_id
		case 1:
			hs[0].Value = []byte([]string{"0.3", "1.1", "2", ""}[rng.IntN(4)])
		case 2:
			hs[3].Value = []byte{'t', 0xff, 0xfe, 'x'} // ce_type not UTF-8
		case 3:
			hs[5].Value = []byte([]string{"yesterday", "2026-13-40T00:00:00Z", "1969-07-20T20:17:00Z", "2999-01-01T00:00:00Z"}[rng.IntN(4)])
		case 4:
			hs = slices.Delete(hs, 4, 5) // no ce_subject
		default:
			hs = append(hs, kafka.Header{Key: "content-type", Value: []byte("application/cloudevents-batch+json")})
		}
		return "cloudevents_header", rec(enc(v["properties"]), hs...)
	case r < 65: // invalid UTF-8 in the JSON text
		b := enc(v)
		at := rng.IntN(len(b))
		bad := [][]byte{{0xff}, {0xc3, 0x28}, {0xed, 0xa0, 0x80}, {0xf8, 0x88, 0x80, 0x80, 0x80}}[rng.IntN(4)]
		return "invalid_utf8", rec(slices.Concat(b[:at], bad, b[at:]))
	case r < 72: // not an object
		return "not_object", rec([]byte([]string{`[]`, `[{"type":"track"}]`, `"track"`, `42`, `null`, `true`, ``, ` `}[rng.IntN(8)]))
	case r < 80: // a bad event time
		v["timestamp"] = []string{"2025-11-20 09:00:00", "tomorrow", "1960-01-01T00:00:00Z", "2999-01-01T00:00:00Z", ""}[rng.IntN(5)]
		return "bad_time", rec(enc(v))
	default: // random byte edits of the good event
		b := enc(v)
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[at] = byte(rng.UintN(256))
			case 1:
				b = slices.Delete(b, at, at+1)
			default:
				b = slices.Insert(b, at, "{}[]\",:\\\x00"[rng.IntN(9)])
			}
		}
		return "mutation", rec(b)
	}
}

// tally is counts as "reason n, reason n" in a stable order.
func tally(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}
