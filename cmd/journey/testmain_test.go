package main

import (
	"os"
	"strings"
	"testing"
)

// TestMain keeps the tests hermetic: the JOURNEY_* variables journey reads
// (a sourced .rig/env sets JOURNEY_BROKERS and JOURNEY_REDIS_ADDR) would
// override the brokers and Redis the tests' configurations name, in this
// process and in the journey processes the tests start. The rig's
// JOURNEY_TEST_* variables, make chaos's JOURNEY_CHAOS* and JOURNEY_CACHE
// stay; a test that wants one of the others sets it with t.Setenv.
// JOURNEY_API_ADDR is set to a free port.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "JOURNEY_") && !strings.HasPrefix(k, "JOURNEY_TEST_") && !strings.HasPrefix(k, "JOURNEY_CHAOS") &&
			k != "JOURNEY_CACHE" {
			_ = os.Unsetenv(k)
		}
	}
	// Many journey processes run at once (tests, other checkouts): none
	// takes the API's fixed default port.
	_ = os.Setenv("JOURNEY_API_ADDR", "127.0.0.1:0")
	os.Exit(m.Run())
}
