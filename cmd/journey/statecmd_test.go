package main

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/replay"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

var stateT0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// customerStates is what a fold left: customer -> processor -> encoded state.
type customerStates map[string]map[string][]byte

// clone copies the maps (the encodings are not modified by anyone).
func (cs customerStates) clone() customerStates {
	out := customerStates{}
	for c, m := range cs {
		out[c] = maps.Clone(m)
	}
	return out
}

// foldCustomers folds events through the default processors, as journey
// run would, and returns the states the events changed and the timers
// left armed.
func foldCustomers(t *testing.T, events ...*journey.Event) (customerStates, []journey.Timer) {
	t.Helper()
	procs, err := processors.Build(config.Default().Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	customers := map[string]*journey.Customer{}
	timers := map[[3]string]time.Time{}
	var out journey.Output
	for _, ev := range events {
		c := customers[ev.CustomerID]
		if c == nil {
			c = e.NewCustomer(ev.CustomerID)
			if err := e.Load(c, func(string, journey.Processor, journey.State) (bool, error) { return false, nil }); err != nil {
				t.Fatal(err)
			}
			customers[ev.CustomerID] = c
		}
		out.Reset()
		if err := e.Fold(c, ev, &out); err != nil {
			t.Fatal(err)
		}
		for _, op := range out.Timers {
			k := [3]string{c.ID, op.Processor, op.Key}
			if op.Cancel {
				delete(timers, k)
			} else {
				timers[k] = op.At
			}
		}
	}
	states := customerStates{}
	for id, c := range customers {
		states[id] = map[string][]byte{}
		for i, p := range e.Processors() {
			if !c.Dirty[i] {
				continue
			}
			data, err := c.States[i].MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			states[id][p.Name()] = data
		}
	}
	var ts []journey.Timer
	for k, at := range timers {
		ts = append(ts, journey.Timer{At: at, Customer: k[0], Processor: k[1], Key: k[2]})
	}
	slices.SortFunc(ts, journey.Compare)
	return states, ts
}

// storeSpec is what writeStore writes into one partition.
type storeSpec struct {
	partition int
	states    customerStates
	timers    []journey.Timer
	offsets   map[string]int64
	// raw are extra states written as they are: customer, processor,
	// version and bytes.
	raw []rawState
	// outbox entries left undelivered.
	outbox int
}

type rawState struct {
	customer, processor string
	version             uint32
	data                []byte
}

// writeStore creates a state directory holding spec, closed.
func writeStore(t *testing.T, dir string, spec storeSpec) {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	procs, err := processors.Build(config.Default().Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Partition(spec.partition)
	if err != nil {
		t.Fatal(err)
	}
	b := p.NewBatch()
	for _, c := range slices.Sorted(maps.Keys(spec.states)) {
		for _, proc := range procs {
			if data, ok := spec.states[c][proc.Name()]; ok {
				b.PutState(c, proc.Name(), proc.StateVersion(), data)
			}
		}
	}
	for _, r := range spec.raw {
		b.PutState(r.customer, r.processor, r.version, r.data)
	}
	for _, tr := range spec.timers {
		if err := b.Set(tr); err != nil {
			t.Fatal(err)
		}
	}
	for topic, off := range spec.offsets {
		b.SetOffset(topic, off)
	}
	for i := range spec.outbox {
		b.Append('t', []byte(fmt.Sprint(i)))
	}
	b.SetWatermark(stateT0.Add(20 * time.Minute))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
}

// fixtureEvents: c1 views boots and adds them to a cart (a cart timer),
// c2 views a page, c3 identifies with consent.
func fixtureEvents() []*journey.Event {
	return []*journey.Event{
		{ID: "e1", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "c1", Channel: "web", Time: stateT0,
			Properties: map[string]any{"product_id": "sku-1", "category": "Footwear/Boots"}},
		{ID: "e2", Kind: journey.KindTrack, Name: "Product Added", CustomerID: "c1", Channel: "web", Time: stateT0.Add(5 * time.Minute),
			Properties: map[string]any{"cart_id": "k1", "product_id": "sku-1", "price": 89.5, "quantity": 1, "currency": "EUR"}},
		{ID: "e3", Kind: journey.KindPage, Name: "Home", CustomerID: "c2", Channel: "web", Time: stateT0.Add(time.Minute)},
		{ID: "e4", Kind: journey.KindIdentify, CustomerID: "c3", UserID: "c3", Channel: "app", Time: stateT0.Add(2 * time.Minute),
			TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true, "sms": false}},
	}
}

// runStateCmd runs `journey state args...` and returns its exit status,
// stdout and stderr.
func runStateCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := stateMain(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestStateUsage(t *testing.T) {
	if code, _, stderr := runStateCmd(t, "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown subcommand "frobnicate"`) ||
		!strings.Contains(stderr, "promote") {
		t.Fatalf("unknown subcommand: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runStateCmd(t); code != 2 {
		t.Fatalf("no subcommand: exit %d, want 2", code)
	}
	for _, sub := range []string{"get", "diff", "promote"} {
		if code, _, stderr := runStateCmd(t, sub, "-h"); code != 0 || !strings.Contains(stderr, "Usage: journey state "+sub) {
			t.Fatalf("%s -h: exit %d, stderr %q", sub, code, stderr)
		}
		if code, _, stderr := runStateCmd(t, sub, "--nope"); code != 2 || !strings.Contains(stderr, "not defined: -nope") {
			t.Fatalf("%s --nope: exit %d, stderr %q", sub, code, stderr)
		}
	}
	if _, _, stderr := runStateCmd(t, "promote", "-h"); !strings.Contains(stderr, "Safe procedure") {
		t.Fatalf("promote -h has no procedure:\n%s", stderr)
	}
}

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

// promoteFixture makes a live and a replayed state directory side by side.
func promoteFixture(t *testing.T, manifest *replay.Manifest, outbox int) (live, replayed string) {
	t.Helper()
	states, timers := foldCustomers(t, fixtureEvents()...)
	root := t.TempDir()
	live, replayed = filepath.Join(root, "live"), filepath.Join(root, "replay")
	writeStore(t, live, storeSpec{partition: 0, states: states, timers: timers, offsets: map[string]int64{"journey.events": 42}})
	writeStore(t, replayed, storeSpec{partition: 0, states: states, offsets: map[string]int64{"journey.events": 50}, outbox: outbox})
	writeStore(t, replayed, storeSpec{partition: 2, offsets: map[string]int64{"journey.events": 7}})
	if manifest != nil {
		s, err := state.Open(replayed, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := manifest.Save(s); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return live, replayed
}

func finishedManifest() *replay.Manifest {
	return &replay.Manifest{Topics: []string{"journey.events"}, From: "earliest", Started: stateT0, Completed: stateT0.Add(time.Hour), Runs: 1}
}

// offsetOf reads partition 0's offset of journey.events in dir.
func offsetOf(t *testing.T, dir string) int64 {
	t.Helper()
	s, err := state.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Summary(0)
	if err != nil {
		t.Fatal(err)
	}
	return sum.Offsets["journey.events"]
}

func TestStatePromoteRefuses(t *testing.T) {
	unfinished := finishedManifest()
	unfinished.Completed = time.Time{}
	for _, tc := range []struct {
		name     string
		manifest *replay.Manifest
		outbox   int
		hold     string // "live" or "replayed": a store the test holds open
		want     string
	}{
		{name: "no manifest", want: "no replay manifest: journey replay did not write this directory"},
		{name: "unfinished", manifest: unfinished, want: "the replay has not finished"},
		{name: "live in use", manifest: finishedManifest(), hold: "live", want: "--to: state dir %s is in use by another process"},
		{name: "replayed in use", manifest: finishedManifest(), hold: "replayed", want: "--from: state dir %s is in use by another process"},
		{name: "shadow triggers left", manifest: finishedManifest(), outbox: 3, want: "3 undelivered outbox entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, replayed := promoteFixture(t, tc.manifest, tc.outbox)
			want := tc.want
			if tc.hold != "" {
				dir := map[string]string{"live": live, "replayed": replayed}[tc.hold]
				s, err := state.Open(dir, state.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				want = fmt.Sprintf(want, dir)
			}
			code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
			if code != 1 || !strings.Contains(stderr, want) {
				t.Fatalf("exit %d, stderr %q, want %q; stdout %q", code, stderr, want, out)
			}
			// Nothing moved.
			entries, _ := os.ReadDir(filepath.Dir(live))
			if len(entries) != 2 {
				t.Fatalf("the directory holds %v", entries)
			}
			if tc.hold == "" && (offsetOf(t, live) != 42 || offsetOf(t, replayed) != 50) {
				t.Fatal("a directory changed")
			}
		})
	}
}

func TestStatePromote(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := offsetOf(t, live); got != 50 {
		t.Fatalf("the live dir resumes from %d, want the replay's 50", got)
	}
	if _, err := os.Stat(replayed); !os.IsNotExist(err) {
		t.Fatalf("the replayed dir is still there: %v", err)
	}
	backups, _ := filepath.Glob(live + ".previous-*")
	if len(backups) != 1 || offsetOf(t, backups[0]) != 42 {
		t.Fatalf("backups %v", backups)
	}
	for _, want := range []string{
		"promoted " + replayed + " -> " + live,
		"the previous live state is kept in " + backups[0],
		"journey.events  0          50",
		"journey.events  2          7",
		"journey run with state.dir " + live + " resumes from these offsets",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestStatePromoteWithoutLiveDir(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	if err := os.RemoveAll(live); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
	if code != 0 || strings.Contains(out, "previous live state") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if got := offsetOf(t, live); got != 50 {
		t.Fatalf("the live dir resumes from %d, want 50", got)
	}
}

func TestStatePromoteAcrossFilesystems(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("no /proc: no second filesystem at hand")
	}
	err := checkSameFilesystem(t.TempDir(), "/proc/journey-live", false)
	if err == nil || !strings.Contains(err.Error(), "different filesystems") {
		t.Fatalf("err = %v", err)
	}
	if err := checkSameFilesystem(t.TempDir(), filepath.Join(t.TempDir(), "live"), false); err != nil {
		t.Fatalf("same filesystem: %v", err)
	}
}

func TestStatePromoteRefusesSymlink(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	link := filepath.Join(filepath.Dir(live), "current")
	if err := os.Symlink(live, link); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", link)
	if code != 1 || !strings.Contains(stderr, "--to "+link+" is a symbolic link") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// Undelivered triggers of the live state do not stop a promotion, but
// are reported: they stay in the backup.
func TestStatePromoteWarnsOfLiveOutbox(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	writeStore(t, live, storeSpec{partition: 5, outbox: 2})
	code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
	if code != 0 || !strings.Contains(out, "WARNING: the previous live state held 2 undelivered outbox entries") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
