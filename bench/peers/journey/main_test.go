package main

import (
	"errors"
	"flag"
	"testing"
)

// The peer binary's flags and config.Flags share one flag set: a flag
// defined twice panics before anything runs (it did once, when journey run
// gained -processors), and make bench-peers then fails.
func TestFlagsParse(t *testing.T) {
	if err := run([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v, want flag.ErrHelp", err)
	}
}
