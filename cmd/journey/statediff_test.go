package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

func TestStateDiffIdentical(t *testing.T) {
	states, timers := foldCustomers(t, fixtureEvents()...)
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, dir := range []string{a, b} {
		writeStore(t, dir, storeSpec{partition: 1, states: states, timers: timers, offsets: map[string]int64{"journey.events": 9}})
	}
	code, out, stderr := runStateCmd(t, "diff", a, b)
	if code != 0 || !strings.HasPrefix(out, "no differences") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func TestStateDiff(t *testing.T) {
	events := fixtureEvents()
	states, timers := foldCustomers(t, events...)
	// B: c1 viewed one more product, which changes only its interest
	// state here; c3 is missing; c2's timers are missing; the offset is
	// further on.
	more, _ := foldCustomers(t, append(slices.Clone(events), &journey.Event{ID: "e5", Kind: journey.KindTrack,
		Name: "Product Viewed", CustomerID: "c1", Channel: "web", Time: stateT0.Add(6 * time.Minute),
		Properties: map[string]any{"product_id": "sku-2", "category": "Footwear/Boots"}})...)
	statesB := states.clone()
	statesB["c1"]["interest"] = more["c1"]["interest"]
	delete(statesB, "c3")
	var timersB []journey.Timer
	for _, tr := range timers {
		if tr.Customer != "c2" {
			timersB = append(timersB, tr)
		}
	}
	if len(timersB) == len(timers) {
		t.Fatal("fixture: c2 armed no timer")
	}
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeStore(t, a, storeSpec{partition: 1, states: states, timers: timers, offsets: map[string]int64{"journey.events": 9}})
	writeStore(t, b, storeSpec{partition: 1, states: statesB, timers: timersB, offsets: map[string]int64{"journey.events": 10}})

	code, out, stderr := runStateCmd(t, "diff", "--sample", "2", a, b)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q\n%s", code, stderr, out)
	}
	// Per processor: c3's states are only in A, c1's interest differs.
	want := map[string][3]int{"interest": {0, 0, 1}}
	for proc := range states["c3"] {
		w := want[proc]
		w[0]++
		want[proc] = w
	}
	rows := diffRows(t, out)
	if len(rows) != len(want) {
		t.Errorf("rows %v, want %v", rows, want)
	}
	for proc, w := range want {
		if rows[proc] != w {
			t.Errorf("%s: only in A, only in B, differ = %v, want %v", proc, rows[proc], w)
		}
	}
	for _, s := range []string{
		"2 customers differ",
		"partition 1: input offsets differ: journey.events A 9, B 10",
		fmt.Sprintf("partition 1: pending timers differ: A %d, B %d", len(timers), len(timersB)),
		"the first 2 differences, in key order:\n\nc1  interest  (partition 1)\n  A: {",
		`"product_id":"sku-2"`,
		"(no state)",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	if code, _, stderr := runStateCmd(t, "diff", a, filepath.Join(root, "missing")); code != 2 || !strings.Contains(stderr, "B: ") {
		t.Fatalf("missing B: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runStateCmd(t, "diff", a); code != 2 {
		t.Fatalf("one dir: exit %d, want 2", code)
	}
}

// diffRows reads the per-processor table of `state diff`.
func diffRows(t *testing.T, out string) map[string][3]int {
	t.Helper()
	rows := map[string][3]int{}
	in := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) > 0 && f[0] == "processor":
			in = true
		case in && len(f) == 5:
			var r [3]int
			for i := range r {
				if _, err := fmt.Sscan(f[i+1], &r[i]); err != nil {
					t.Fatalf("row %q: %v", l, err)
				}
			}
			rows[f[0]] = r
		case in:
			return rows
		}
	}
	return rows
}
