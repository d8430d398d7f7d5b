package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestReplayIsDeterministicWithIdentity replays the same identity traffic
// (anonymous journeys linked to users on other partitions, records keyed
// as real producers key them, so many hop through the in-memory router)
// twice into fresh state directories, once as fast as it goes and once
// paced, so the partitions' threads interleave differently: the two stores
// must hold the same bytes — every state of every customer (the timeline,
// which records the order it folded in, included), every identity entry
// and every timer — and the shadow triggers the same ids (issue 22:
// "a replay of the same topics gives the same canonical customers, states
// and trigger ids").
func TestReplayIsDeterministicWithIdentity(t *testing.T) {
	const partitions, customers, perCustomer = 4, 120, 24
	e := newRigEnv(t, partitions)
	cfg := e.config(t, identityProcessors+"  timeline:\n    enabled: true\n")
	w := identityWorkload(23, customers, perCustomer, partitions, workloadStart)
	if off, _ := w.routed(t, partitions); off < 50 {
		t.Fatalf("only %d records off their customer's partition: not a meaningful test", off)
	}
	kw := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: asWritten, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}
	if err := kw.WriteMessages(context.Background(), w.msgs...); err != nil {
		t.Fatal(err)
	}
	_ = kw.Close()

	replay := func(name string, extra ...string) (map[string][]byte, map[string]int) {
		dir := filepath.Join(e.dir, name)
		prefix := strings.TrimSuffix(e.prefix, ":") + "-" + name + ":"
		args := append([]string{"replay", "--config", cfg, "--state-dir", dir, "--from", "earliest", "--batch", "40",
			"--triggers", "shadow", "--shadow-prefix", prefix, "--progress", "none"}, extra...)
		if code, out := runToExit(t, 3*time.Minute, args...); code != 0 {
			t.Fatalf("replay %s: exit %d: %s", name, code, out)
		}
		ids, err := (&rigEnv{rdb: e.rdb, prefix: prefix}).triggerIDs()
		if err != nil {
			t.Fatal(err)
		}
		return storeBytes(t, dir), ids
	}
	a, trigA := replay("fast")
	b, trigB := replay("paced", "--max-rate", "2500")
	if len(trigA) == 0 || len(a) < customers {
		t.Fatalf("replay A: %d triggers, %d keys: not a meaningful test", len(trigA), len(a))
	}
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if vb, ok := b[k]; !ok || !bytes.Equal(a[k], vb) {
			diff = append(diff, fmt.Sprintf("%q", k))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("%q (only in B)", k))
		}
	}
	if len(diff) > 0 {
		t.Errorf("%d of %d keys differ between the two replays, e.g. %s", len(diff), len(a), strings.Join(diff[:min(5, len(diff))], ", "))
	}
	if !maps.Equal(trigA, trigB) {
		t.Errorf("shadow triggers differ: %d ids vs %d", len(trigA), len(trigB))
	}
	t.Logf("%d records; two replays hold the same %d state and timer keys and fire the same %d triggers", len(w.msgs), len(a), len(trigA))
}

// storeBytes returns the state and timer entries of the store in dir:
// key → value ("s" states, "t"/"T" timers; the tag follows the 4-byte
// partition prefix, DESIGN.md "Keys").
func storeBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	eachStored(t, dir, func(k, v []byte) {
		if len(k) > 4 && (k[4] == 's' || k[4] == 't' || k[4] == 'T') {
			out[string(k)] = slices.Clone(v)
		}
	})
	return out
}
