package main

import (
	"encoding/json"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/journey-dev/journey/internal/chaosreport"
)

// The chaos suite (issue 23). The reliability scenarios are ordinary tests
// of this package: `make test` runs each at its short size; `make chaos`
// runs them at full size (JOURNEY_CHAOS=1) and has each append one row per
// scenario to $JOURNEY_CHAOS_REPORT (JSON lines), which `go run
// ./bench/chaos` turns into bench/results/reliability.md.
const (
	envChaos       = "JOURNEY_CHAOS"
	envChaosReport = "JOURNEY_CHAOS_REPORT"
)

// chaosFull reports whether the scenarios run at the full size of make chaos.
func chaosFull() bool { return os.Getenv(envChaos) == "1" }

// chaosSize picks a scenario parameter: short under make test, full under
// make chaos.
func chaosSize[T any](short, full T) T {
	if chaosFull() {
		return full
	}
	return short
}

// chaosRow is one scenario's outcome in bench/results/reliability.md.
type chaosRow = chaosreport.Row

var chaosMu sync.Mutex

// recordChaos logs row and, under make chaos, appends it to the report.
func recordChaos(t *testing.T, row chaosRow) {
	t.Helper()
	row.Full = chaosFull()
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: %s", b)
	path := os.Getenv(envChaosReport)
	if path == "" {
		return
	}
	chaosMu.Lock()
	defer chaosMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}

// triggerOutcome compares the trigger ids in Redis (id → copies) with the
// ones a reference fold expects: how many are missing, how many extra
// copies there are, and how many ids nothing expected.
func triggerOutcome(want map[string]bool, got map[string]int) (lost, duplicated, unexpected int) {
	for id := range want {
		if got[id] == 0 {
			lost++
		}
	}
	for id, n := range got {
		if !want[id] {
			unexpected++
			continue
		}
		if n > 1 {
			duplicated += n - 1
		}
	}
	return lost, duplicated, unexpected
}

// stateMismatches counts the customers whose state differs between the
// reference fold and what was stored, and returns a few of their ids.
func stateMismatches(want, got map[string]map[string]string) (int, []string) {
	var bad []string
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			bad = append(bad, id)
			continue
		}
		for proc, ws := range w {
			if g[proc] != ws {
				bad = append(bad, id)
				break
			}
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			bad = append(bad, id)
		}
	}
	slices.Sort(bad)
	return len(bad), bad[:min(len(bad), 5)]
}
