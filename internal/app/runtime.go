package app

import (
	"runtime/debug"

	"github.com/journey-dev/journey/pkg/config"
)

// DefaultGCPercent is the Go garbage collector's target journey runs with
// unless GOGC is set: folding allocates many short-lived objects, and at
// Go's default of 100 collecting them takes a large share of the CPU; 400
// trades memory for that, within the soft limit TuneRuntime sets.
const DefaultGCPercent = 400

// TuneRuntime sets the garbage collector for journey unless the
// environment does (getenv is os.Getenv; a parameter for tests): GC
// percent DefaultGCPercent, and a soft memory limit of state.memory_limit
// (GOMEMLIMIT overrides it), so the higher GC target cannot let the heap
// grow to five times a large live heap. Everything journey keeps in memory
// (Pebble's block cache and memtables too, in a static build) is on the Go
// heap, shared out by config.State.Budget.
func TuneRuntime(cfg config.Config, getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(DefaultGCPercent)
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.State.Budget().Limit)
	}
}
