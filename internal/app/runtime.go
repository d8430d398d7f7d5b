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

// memoryHeadroom is what the soft memory limit allows beyond Pebble's
// block cache (which lives on the Go heap in a static build).
const memoryHeadroom = 2 << 30

// TuneRuntime sets the garbage collector for journey unless the
// environment does (getenv is os.Getenv; a parameter for tests): GC
// percent DefaultGCPercent, and a soft memory limit of the block cache
// plus 2 GiB (GOMEMLIMIT overrides it), so the higher GC target cannot let
// the heap grow to five times a large live heap.
func TuneRuntime(cfg config.Config, getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(DefaultGCPercent)
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.State.CacheBytes + memoryHeadroom)
	}
}
