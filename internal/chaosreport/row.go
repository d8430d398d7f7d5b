// Package chaosreport is the row the chaos suite's scenarios (cmd/journey's
// TestChaos... tests) write, one per scenario, as JSON lines, and
// bench/chaos renders as bench/results/reliability.md: the one definition
// both sides use.
package chaosreport

import "time"

// Row is one scenario's outcome in bench/results/reliability.md.
type Row struct {
	Scenario  string `json:"scenario"`
	Faults    string `json:"faults"`              // what was done, e.g. "50 kill -9 at random points"
	Events    int    `json:"events"`              // good records produced
	Malformed int    `json:"malformed,omitempty"` // bad records produced (each must be dead-lettered)
	// DeadLettered counts the dead-letter topic's records at the end.
	DeadLettered int `json:"dead_lettered,omitempty"`
	// Triggers expected by the reference fold, and the ones missing, the
	// ones in Redis more than once (extra copies) and the ones no reference
	// fold produced.
	Triggers   int `json:"triggers_expected"`
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	Unexpected int `json:"unexpected"`
	// Mismatches counts customers whose stored state differs from the
	// reference fold (missing or extra customers included).
	Mismatches int `json:"state_mismatches"`
	// Recovery holds each fault's time to recover (from the fault's end to
	// the condition the scenario names in RecoveredWhen).
	Recovery      []time.Duration `json:"recovery_ns,omitempty"`
	RecoveredWhen string          `json:"recovered_when,omitempty"`
	// Expected explains the losses or duplicates a scenario is documented
	// to cause ("" when the target is zero).
	Expected string        `json:"expected,omitempty"`
	Took     time.Duration `json:"took_ns"`
	Full     bool          `json:"full"` // run at make chaos's size
}
