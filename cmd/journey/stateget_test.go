package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/state"
)

func TestStateGet(t *testing.T) {
	states, timers := foldCustomers(t, fixtureEvents()...)
	if len(timers) == 0 || len(states["c1"]) < 3 {
		t.Fatalf("fixture: timers %v, c1's states %v", timers, slices.Collect(maps.Keys(states["c1"])))
	}
	dir := filepath.Join(t.TempDir(), "state")
	writeStore(t, dir, storeSpec{partition: 3, states: states, timers: timers, offsets: map[string]int64{"journey.events": 42},
		raw: []rawState{
			{"c5", "interest", 99, []byte{1, 2, 3}}, // a version this build cannot read
			{"c5", "legacy", 1, []byte{4}},          // a processor this build does not have
		}})
	writeStore(t, filepath.Join(t.TempDir(), "unused"), storeSpec{}) // an unrelated store: nothing leaks

	t.Run("text", func(t *testing.T) {
		code, out, stderr := runStateCmd(t, "get", "--state-dir", dir, "c1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{
			"customer c1 (partition 3)",
			"\ninterest (state version 1)\n",
			"\ncart (state version 1)\n",
			"\nprofile (state version 1)\n",
			"  categories:\n    - category: Footwear/Boots\n",
			"  carts:\n    - cart_id: k1\n",
			"      items:\n        - product_id: sku-1\n",
			"timers: 2 pending\n" +
				"  2026-11-01T11:05:00Z  cart      cart:k1  (in 45m0s of event time)\n" +
				"  2026-12-01T10:00:00Z  dormancy  dormant  (in 29d23h40m0s of event time)\n",
			"partition 3\n  watermark: 2026-11-01T10:20:00Z\n  armed timers (all customers): 3\n  undelivered outbox entries: 0\n" +
				"  offsets (next to read):\n    journey.events: 42\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		// The configuration's processor order.
		if strings.Index(out, "\nprofile") > strings.Index(out, "\ninterest") ||
			strings.Index(out, "\ninterest") > strings.Index(out, "\ncart") {
			t.Errorf("processors out of order")
		}
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	})

	t.Run("json", func(t *testing.T) {
		// Flags after the customer id are flags too.
		code, out, stderr := runStateCmd(t, "get", "c1", "--state-dir", dir, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var got struct {
			Customer  string `json:"customer"`
			Partition int    `json:"partition"`
			States    map[string]struct {
				Version int             `json:"version"`
				State   json.RawMessage `json:"state"`
			} `json:"states"`
			Timers []struct {
				At        time.Time `json:"at"`
				Processor string    `json:"processor"`
				Key       string    `json:"key"`
			} `json:"timers"`
			Watermark time.Time        `json:"watermark"`
			Offsets   map[string]int64 `json:"offsets"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		var cart struct {
			Carts []struct {
				ID string `json:"cart_id"`
			} `json:"carts"`
		}
		if err := json.Unmarshal(got.States["cart"].State, &cart); err != nil {
			t.Fatal(err)
		}
		if got.Customer != "c1" || got.Partition != 3 || got.States["interest"].Version != 1 ||
			len(cart.Carts) != 1 || cart.Carts[0].ID != "k1" || len(got.Timers) != 2 || got.Timers[0].Processor != "cart" ||
			got.Offsets["journey.events"] != 42 || !got.Watermark.Equal(stateT0.Add(20*time.Minute)) {
			t.Fatalf("got %+v\n%s", got, out)
		}
	})

	t.Run("unreadable states are described", func(t *testing.T) {
		code, out, stderr := runStateCmd(t, "get", "--state-dir", dir, "c5")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{
			"interest (state version 99)\n  not decoded: stored as state version 99, this build reads version 1 (3 bytes)",
			`legacy (state version 1)` + "\n" + `  not decoded: "legacy" is not a processor of this configuration (1 bytes)`,
			"no state: profile, recovery",
			"timers: 0 pending",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("unknown customer", func(t *testing.T) {
		code, out, stderr := runStateCmd(t, "get", "--state-dir", dir, "nobody")
		if code != 1 || out != "" || !strings.Contains(stderr, `customer "nobody" has no state in `+dir) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
	})

	t.Run("arguments", func(t *testing.T) {
		if code, _, stderr := runStateCmd(t, "get", "--state-dir", dir); code != 2 || !strings.Contains(stderr, "want one customer id") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		code, _, stderr := runStateCmd(t, "get", "--state-dir", filepath.Join(dir, "nope"), "c1")
		if code != 1 || !strings.Contains(stderr, "does not exist") {
			t.Fatalf("missing dir: exit %d, stderr %q", code, stderr)
		}
	})

	t.Run("in use", func(t *testing.T) {
		s, err := state.Open(dir, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		code, _, stderr := runStateCmd(t, "get", "--state-dir", dir, "c1")
		if want := "state dir " + dir + " is in use by another process (a running journey?)"; code != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("exit %d, stderr %q, want %q", code, stderr, want)
		}
	})
}

// TestStateHoldStore is not a test: TestStateGetInUseByAnotherProcess runs
// the test binary as a child that holds a store open until its stdin ends.
func TestStateHoldStore(t *testing.T) {
	dir := os.Getenv("JOURNEY_TEST_HOLD_STATE")
	if dir == "" {
		t.Skip("helper process for TestStateGetInUseByAnotherProcess")
	}
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Println("holding")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// Pebble's lock held by another process (a running journey) is reported
// as such, not as a Pebble error.
func TestStateGetInUseByAnotherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	states, timers := foldCustomers(t, fixtureEvents()...)
	writeStore(t, dir, storeSpec{states: states, timers: timers})

	cmd := exec.Command(os.Args[0], "-test.run=^TestStateHoldStore$")
	cmd.Env = append(os.Environ(), "JOURNEY_TEST_HOLD_STATE="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	code, _, stderr := runStateCmd(t, "get", "--state-dir", dir, "c1")
	if want := "state dir " + dir + " is in use by another process (a running journey?)"; code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q, want %q", code, stderr, want)
	}
	code, _, stderr = runStateCmd(t, "promote", "--from", filepath.Join(t.TempDir()), "--to", dir)
	if code != 1 || !strings.Contains(stderr, "is in use by another process") {
		t.Fatalf("promote: exit %d, stderr %q", code, stderr)
	}
}

// The text of `state get` renders each state's JSON as YAML: the key
// order of the JSON, lists of scalars on one line, quotes only where YAML
// would misread a string, timestamps plain.
func TestStateTree(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"nested", `{"carts":[{"cart_id":"k1","items":[{"product_id":"sku-1","quantity":1}],"adds":["e1","e2"]}],"closed":{}}`,
			"  carts:\n" +
				"    - cart_id: k1\n" +
				"      items:\n" +
				"        - product_id: sku-1\n" +
				"          quantity: 1\n" +
				"      adds: [e1, e2]\n" +
				"  closed: {}\n"},
		{"key order kept", `{"z":1,"a":2}`, "  z: 1\n  a: 2\n"},
		{"scalars", `{"n":null,"b":true,"f":89.5,"e":1e-07,"s":"Footwear/Winter Boots","at":"2026-11-01T10:05:00.5Z"}`,
			"  n: null\n  b: true\n  f: 89.5\n  e: 1e-07\n  s: Footwear/Winter Boots\n  at: 2026-11-01T10:05:00.5Z\n"},
		{"strings YAML would misread", `{"a":"","b":"true","c":"123","d":" pad","e":"a: b","f":"#x","g":"- x","h":"2026"}`,
			"  a: \"\"\n  b: \"true\"\n  c: \"123\"\n  d: ' pad'\n  e: 'a: b'\n  f: '#x'\n  g: '- x'\n  h: \"2026\"\n"},
		{"lists of scalars", `{"hours":[0,0,4.5],"recent":["2026-11-01T10:05:00Z"],"ids":["a","b,c",""]}`,
			"  hours: [0, 0, 4.5]\n  recent: ['2026-11-01T10:05:00Z']\n  ids: [a, 'b,c', \"\"]\n"},
		{"list of lists", `[[1,2],[{"a":1}]]`, "  - [1, 2]\n  - - a: 1\n"},
		{"multi-line string", `{"note":"l1\nl2"}`, "  note: |-\n    l1\n    l2\n"},
		{"not JSON", `{"a":`, "  {\"a\":\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			writeTree(&b, []byte(tc.json), "  ")
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}
