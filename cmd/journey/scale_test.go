package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/state"
)

// The scale-out tests run several `journey run` processes in one consumer
// group (DESIGN.md, "Scale-out: the changelog protocol").
//
// Wall clock: they use crashProcessors (or identityProcessors, the same
// with engagement tiers out of reach), as the crash and determinism tests
// do: timers.idle_advance 0 (and lateness 0), so a quiet partition's
// watermark never follows the wall clock and every rule — the absence
// rules (cart abandonment, dormancy) included — fires on event time only;
// the workload is anchored at workloadStart, so the contact policy's quiet
// hours do not depend on when the test runs. State and triggers are then a
// pure function of each partition's records, which is what lets
// TestScaleOut compare, for every rule, a run whose partitions moved four
// times with an uninterrupted reference run.

// TestScaleOut moves partitions between three instances while a producer
// sends a known set of events: kill -9 one instance (B), restart it on its
// dir (it must restore only the changelog's tail for the partitions it
// held), scale 3 → 1 (SIGTERM) → 3. Then (a) `journey state restore` of
// the group's changelog into a fresh dir equals the state of one
// uninterrupted `journey run` (its own group, hence its own changelog)
// over the same input, per `journey state diff`; (b) the triggers in Redis
// are the reference's, each exactly once.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka and Redis")
	}
	const partitions, customers, perCustomer = 12, 300, 30
	e := newRigEnv(t, partitions)
	cfg := e.config(t, crashProcessors)
	msgs := crashWorkload(23, customers, perCustomer, workloadStart)
	_, wantTriggers := expected(t, e.topic, partitions, msgs)
	if len(wantTriggers) < 50 {
		t.Fatalf("workload yields only %d triggers; not a meaningful test", len(wantTriggers))
	}
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	// The producer sends the workload in paced chunks, a share more at each
	// step of the scenario, so events arrive during every rebalance.
	prod := startPacedProducer(t, e, msgs, 40, 50*time.Millisecond)
	share := func(k, of int) { prod.allow(len(msgs) * k / of) }

	inst := []*instance{
		{name: "A", dir: filepath.Join(e.dir, "inst-a")},
		{name: "B", dir: filepath.Join(e.dir, "inst-b")},
		{name: "C", dir: filepath.Join(e.dir, "inst-c")},
	}
	a, b, c := inst[0], inst[1], inst[2]
	for _, in := range inst {
		in.start(t, cfg)
	}
	waitSettled(t, 90*time.Second, partitions, a, b, c)
	step("3 instances ready")

	// 1. kill -9 B while events are being processed.
	share(1, 6)
	waitCommitted(t, e, int64(len(msgs)/12))
	heldB := b.lastGeneration().Partitions
	b.c.kill()
	share(2, 6)
	positions := logPositions(t, b.dir) // B's local copies, as the crash left them
	step("killed B (partitions %v, local changelog positions %v)", heldB, positions)
	waitSettled(t, 90*time.Second, partitions, a, c)
	step("A and C own all %d partitions", partitions)

	// 2. B comes back on the same dir: for the partitions it holds a copy
	// of, it restores only what was logged after its copy.
	b.start(t, cfg)
	share(3, 6)
	settled := waitSettled(t, 90*time.Second, partitions, a, b, c)
	step("B is back: A %v, B %v, C %v", settled[a].Partitions, settled[b].Partitions, settled[c].Partitions)
	ends := changelogEnds(t, e.brokers, e.group+".changelog", partitions)
	tails := 0
	for _, p := range settled[b].Partitions {
		pos := positions[p]
		if pos <= 0 {
			continue // no copy with any record: a full restore is right
		}
		restored := b.status.Detail.Partitions[p].Restored
		step("B partition %d: local copy at %d, restored %d, changelog end now %d", p, pos, restored, ends[p])
		if restored >= ends[p] || restored > ends[p]-pos {
			t.Errorf("B partition %d: restored %d records; its copy was at changelog offset %d and the changelog ends at %d: "+
				"want at most the tail (%d), not a rebuild from scratch", p, restored, pos, ends[p], ends[p]-pos)
		}
		tails++
	}
	if tails == 0 {
		t.Fatalf("B was given back none of the partitions it holds a copy of (held %v, positions %v, now owns %v)",
			heldB, positions, settled[b].Partitions)
	}

	// 3. Scale 3 → 1: B and C leave gracefully; A takes everything.
	share(4, 6)
	waitCommitted(t, e, committedTotal(t, e)+1)
	for _, in := range []*instance{b, c} {
		if code := in.c.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("%s: exit %d after SIGTERM\n%s", in.name, code, in.c.tail(30))
		}
	}
	waitSettled(t, 90*time.Second, partitions, a)
	step("scaled to 1: A owns all %d partitions (records restored: %v)", partitions, a.restored())

	// 4. Scale 1 → 3.
	share(5, 6)
	b.start(t, cfg)
	c.start(t, cfg)
	settled = waitSettled(t, 90*time.Second, partitions, a, b, c)
	step("scaled to 3: A %v, B %v, C %v (records restored: B %v, C %v)", settled[a].Partitions, settled[b].Partitions,
		settled[c].Partitions, b.restored(), c.restored())
	share(6, 6)
	if err := prod.wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	step("produced all %d records (%d retries)", len(msgs), len(msgs)-customers*perCustomer)
	waitDone(t, e, len(msgs), a, b, c)
	for _, in := range inst {
		if code := in.c.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("%s: exit %d after SIGTERM\n%s", in.name, code, in.c.tail(30))
		}
	}
	step("all consumed and delivered; instances stopped")

	// (a) The changelog restored into a fresh dir equals an uninterrupted run.
	restoredDir := filepath.Join(e.dir, "restored")
	code, out := runToExit(t, 2*time.Minute, "state", "restore", "--config", cfg, "--state-dir", restoredDir)
	if code != 0 {
		t.Fatalf("journey state restore: exit %d\n%s", code, out)
	}
	step("journey state restore: %s", lastLine(out))

	ref := *e
	ref.group, ref.prefix, ref.dir = e.group+"-ref", e.prefix+"ref:", filepath.Join(e.dir, "ref")
	if err := os.MkdirAll(ref.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	refCfg := ref.config(t, crashProcessors)
	refRun := &instance{name: "ref", dir: filepath.Join(ref.dir, "state")}
	refRun.start(t, refCfg)
	waitSettled(t, 90*time.Second, partitions, refRun)
	waitDone(t, &ref, len(msgs), refRun)
	if code := refRun.c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("reference: exit %d after SIGTERM\n%s", code, refRun.c.tail(30))
	}
	step("reference run done")

	code, out = runToExit(t, time.Minute, "state", "diff", "--config", cfg, refRun.dir, restoredDir)
	if code != 0 || !strings.Contains(out, "no differences") {
		t.Fatalf("journey state diff <reference> <restored changelog>: exit %d, want 0 and \"no differences\":\n%s", code, out)
	}
	step("state diff: %s", lastLine(out))

	// (b) The same triggers as the reference (and the in-process fold),
	// each once.
	got, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		name string
		ids  map[string]int
	}{{"scale run", got}, {"reference", want}} {
		for id, n := range side.ids {
			if n != 1 {
				t.Errorf("%s: trigger %s is in Redis %d times, want once", side.name, id, n)
			}
		}
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("trigger %s of the reference is missing from the scale run", id)
		}
	}
	for id := range got {
		if want[id] == 0 {
			t.Errorf("the scale run emitted trigger %s, which the reference did not", id)
		}
	}
	if len(want) != len(wantTriggers) {
		t.Errorf("the reference emitted %d triggers, the in-process fold %d", len(want), len(wantTriggers))
	}
	step("%d records, %d customers: restored changelog == reference state; %d triggers, the reference's, each once",
		len(msgs), customers, len(got))
}

// TestScaleOutMerges runs linking traffic (issue 22: identityWorkload,
// 40% of customers start anonymous; records keyed by nothing, by the other
// id or on a CRC32 partition) through three instances, one of them killed
// with SIGKILL mid-run and started again on its dir, so forwards, links
// and merges cross instances while partitions move. Then the group's
// changelog, restored into a fresh dir, holds every customer's state on
// its canonical partition only, equal to the in-process fold keyed by
// canonical customer (merges applied once), each anonymous id only its
// identity slot; and Redis holds the fold's triggers, each once.
func TestScaleOutMerges(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka and Redis")
	}
	const partitions, customers, perCustomer = 6, 150, 30
	e := newRigEnv(t, partitions)
	cfg := e.config(t, identityProcessors)
	// A short session timeout so the killed member's partitions move quickly.
	if err := writeFile(cfg, strings.Replace(readFile(t, cfg), "session_timeout: 6s", "session_timeout: 3s", 1)); err != nil {
		t.Fatal(err)
	}
	w := identityWorkload(41, customers, perCustomer, partitions, workloadStart)
	msgs := w.msgs
	wantStates, wantTriggers, spanning := expectedCanonical(t, e.topic, partitions, w)
	if len(wantTriggers) < 50 {
		t.Fatalf("workload yields only %d triggers; not a meaningful test", len(wantTriggers))
	}
	offPartition, noKey := w.routed(t, partitions)
	if len(spanning) < len(w.anon)/2 {
		t.Fatalf("only %d triggers caused by anonymous and known views; not a meaningful test", len(spanning))
	}
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	step("workload: %d records, %d customers (%d start anonymous); %d records off their customer's partition, %d without a key; %d triggers caused by anonymous and known views",
		len(msgs), customers, len(w.anon), offPartition, noKey, len(spanning))

	prod := startPacedProducerWith(t, e, asWritten, msgs, 40, 50*time.Millisecond)
	share := func(k, of int) { prod.allow(len(msgs) * k / of) }
	inst := []*instance{
		{name: "A", dir: filepath.Join(e.dir, "inst-a")},
		{name: "B", dir: filepath.Join(e.dir, "inst-b")},
		{name: "C", dir: filepath.Join(e.dir, "inst-c")},
	}
	a, b, c := inst[0], inst[1], inst[2]
	for _, in := range inst {
		in.start(t, cfg)
	}
	waitSettled(t, 90*time.Second, partitions, a, b, c)
	step("3 instances ready")

	// kill -9 B while the identifies link and merge across instances: the
	// moment the last of them is committed, links and merges are in
	// flight (the workload's identifies are all at one event minute).
	lastIdentify := -1
	for i, m := range msgs {
		if strings.Contains(string(m.Value), `"type":"identify"`) {
			lastIdentify = i
		}
	}
	if lastIdentify < 0 {
		t.Fatal("the workload has no identify")
	}
	share(3, 5)
	waitCommitted(t, e, int64(lastIdentify+1))
	heldB := b.lastGeneration().Partitions
	b.c.kill()
	share(4, 5)
	step("killed B (partitions %v) at %d committed records", heldB, committedTotal(t, e))
	waitSettled(t, 90*time.Second, partitions, a, c)
	step("A and C own all %d partitions", partitions)

	// B comes back on its dir while the rest arrives.
	b.start(t, cfg)
	share(5, 5)
	waitSettled(t, 90*time.Second, partitions, a, b, c)
	step("B is back")
	if err := prod.wait(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	waitDone(t, e, len(msgs), a, b, c)
	settled(t, e, int64(len(msgs)), 2*time.Minute)
	waitDone(t, e, len(msgs), a, b, c)
	for _, in := range inst {
		if code := in.c.stop(t, 30*time.Second); code != 0 {
			t.Fatalf("%s: exit %d after SIGTERM\n%s", in.name, code, in.c.tail(30))
		}
	}
	step("all consumed, routed and delivered; instances stopped")

	restoredDir := filepath.Join(e.dir, "restored")
	if code, out := runToExit(t, 2*time.Minute, "state", "restore", "--config", cfg, "--state-dir", restoredDir); code != 0 {
		t.Fatalf("journey state restore: exit %d\n%s", code, out)
	}
	checked := checkCanonical(t, dumpStored(t, restoredDir, partitions), wantStates, w, partitions)
	if checked != customers {
		t.Errorf("checked %d customers, want %d", checked, customers)
	}

	got, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range got {
		if n != 1 || !wantTriggers[id] {
			t.Errorf("trigger %s in Redis %d times (expected: %v)", id, n, wantTriggers[id])
		}
	}
	for id := range wantTriggers {
		if got[id] == 0 {
			t.Errorf("trigger %s of the reference fold is missing", id)
		}
	}
	checkIdentityRedis(t, e, w)
	step("%d customers' state on their canonical partition as folded under their canonical id (%d anonymous ids merged); %d triggers, each once (%d of the %d caused by anonymous and known views fired by a merge)",
		checked, len(w.anon), len(got), firedByMerge(t, e, spanning), len(spanning))
}

// TestStandbyFailover kills one of three instances after tens of
// thousands of events, while a trickle of new events keeps arriving, once
// without standbys and once with --standbys 1, and compares the changelog
// records the survivors restore before every partition is ready again:
// with a warm standby only the last moments, without one the dead
// member's partitions from the start. The time from the kill until then is
// reported, not asserted (it is mostly kafka.session_timeout).
func TestStandbyFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka and Redis")
	}
	const partitions, customers, perCustomer, trickle = 12, 1000, 33, 3
	type result struct {
		ready    time.Duration
		restored int64
		moved    []int
	}
	run := func(standbys int) result {
		e := newRigEnv(t, partitions)
		cfg := e.config(t, crashProcessors)
		inst := []*instance{
			{name: "A", dir: filepath.Join(e.dir, "inst-a")},
			{name: "B", dir: filepath.Join(e.dir, "inst-b")},
			{name: "C", dir: filepath.Join(e.dir, "inst-c")},
		}
		for _, in := range inst {
			in.start(t, cfg, "--standbys", strconv.Itoa(standbys))
		}
		waitSettled(t, 90*time.Second, partitions, inst...)

		// Produced once every instance holds its share, so no instance holds
		// a copy of a partition it does not own (other than as a standby).
		// The workload is ordered by event index: the last `trickle` events
		// of every customer are kept for the trickle around the kill.
		msgs := crashWorkload(uint64(31+standbys), customers, perCustomer, workloadStart)
		bulk := len(msgs) * (perCustomer - trickle) / perCustomer
		w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
			BatchSize: 500, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
		if err := w.WriteMessages(context.Background(), msgs[:bulk]...); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
		waitDone(t, e, bulk, inst...)
		if standbys > 0 {
			waitStandbysWarm(t, 30*time.Second, partitions, standbys, inst...)
		}
		prod := startPacedProducer(t, e, msgs[bulk:], 20, 50*time.Millisecond)
		prod.allow(len(msgs) - bulk)
		waitCommitted(t, e, int64(bulk+100))

		dead, survivors := inst[1], []*instance{inst[0], inst[2]}
		moved := dead.lastGeneration().Partitions
		killed := time.Now()
		dead.c.kill()
		waitSettled(t, 90*time.Second, partitions, survivors...)
		r := result{ready: time.Since(killed), moved: moved}
		perPartition := map[int]int64{}
		for _, in := range survivors {
			for p, n := range in.restored() {
				r.restored += n
				perPartition[p] = n
			}
		}
		t.Logf("standbys=%d: killed %s (active for %v); records restored per partition on the survivors: %v",
			standbys, dead.name, moved, perPartition)

		// What the survivors took over is right: after the rest of the
		// trickle, the group's changelog holds exactly the in-process fold
		// of the workload, and Redis every trigger once.
		if err := prod.wait(time.Minute); err != nil {
			t.Fatal(err)
		}
		waitDone(t, e, len(msgs), survivors...)
		for _, in := range survivors {
			if code := in.c.stop(t, 30*time.Second); code != 0 {
				t.Fatalf("%s: exit %d after SIGTERM", in.name, code)
			}
		}
		restoredDir := filepath.Join(e.dir, "restored")
		if code, out := runToExit(t, 2*time.Minute, "state", "restore", "--config", cfg, "--state-dir", restoredDir); code != 0 {
			t.Fatalf("journey state restore: exit %d\n%s", code, out)
		}
		wantStates, wantTriggers := expected(t, e.topic, partitions, msgs)
		gotStates := dumpStates(t, restoredDir, partitions, crashProcessors)
		if len(gotStates) != len(wantStates) {
			t.Fatalf("standbys=%d: the changelog holds %d customers, want %d", standbys, len(gotStates), len(wantStates))
		}
		for cust, procs := range wantStates {
			for name, want := range procs {
				if got := gotStates[cust][name]; got != want {
					t.Fatalf("standbys=%d: customer %s, processor %s after the failover:\n got %s\nwant %s", standbys, cust, name, got, want)
				}
			}
		}
		gotTriggers, err := e.triggerIDs()
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range gotTriggers {
			if n != 1 || !wantTriggers[id] {
				t.Errorf("standbys=%d: trigger %s in Redis %d times (expected: %v)", standbys, id, n, wantTriggers[id])
			}
		}
		if len(gotTriggers) != len(wantTriggers) {
			t.Errorf("standbys=%d: %d triggers in Redis, want %d", standbys, len(gotTriggers), len(wantTriggers))
		}
		return r
	}
	without := run(0)
	with := run(1)
	t.Logf("failover: standbys=0 ready after %.1fs, restored %d records; standbys=1 ready after %.1fs, restored %d",
		without.ready.Seconds(), without.restored, with.ready.Seconds(), with.restored)
	if without.restored == 0 {
		t.Fatalf("without standbys the survivors restored nothing for the dead member's partitions %v", without.moved)
	}
	if with.restored >= without.restored {
		t.Fatalf("with a standby the survivors restored %d records, without %d: a warm standby must restore less",
			with.restored, without.restored)
	}
}

// instance is one `journey run` of a scale-out test with its own state dir
// (and, through admin.addr 127.0.0.1:0, its own admin port); start may be
// called again after it exited, on the same dir.
type instance struct {
	name   string
	dir    string
	c      *child
	status readyStatus // the last /readyz waitSettled read
}

func (in *instance) start(t *testing.T, cfg string, args ...string) {
	t.Helper()
	in.c = startChild(t, append([]string{"run", "--config", cfg, "--state-dir", in.dir}, args...)...)
}

// restored is, per partition the instance owns, the changelog records it
// restored when it was given the partition (as waitSettled last read it).
func (in *instance) restored() map[int]int64 {
	m := map[int]int64{}
	for p, st := range in.status.Detail.Partitions {
		m[p] = st.Restored
	}
	return m
}

// readyStatus is the body of /readyz.
type readyStatus struct {
	Ready  bool `json:"ready"`
	Detail struct {
		Joined     bool                    `json:"joined"`
		Partitions map[int]partitionStatus `json:"partitions"`
		Standbys   map[int]partitionStatus `json:"standbys"`
	} `json:"detail"`
}

type partitionStatus struct {
	State     string `json:"state"`
	Restored  int64  `json:"restored"`
	Remaining int64  `json:"remaining"`
}

// adminGet fetches a path from the child's admin server (an error, not a
// failure, while it is not listening yet).
func (c *child) adminGet(path string) (int, []byte, error) {
	m := adminRe.FindStringSubmatch(c.output())
	if m == nil {
		return 0, nil, errors.New("admin address not logged yet")
	}
	resp, err := http.Get("http://" + m[1] + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *child) readyz() (readyStatus, error) {
	var st readyStatus
	_, body, err := c.adminGet("/readyz")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("/readyz: %v: %s", err, body)
	}
	return st, nil
}

// generationJoined is the log line of a consumer-group generation.
type generationJoined struct {
	Generation int32  `json:"generation"`
	Member     string `json:"member"`
	Partitions []int  `json:"partitions"`
	Standbys   []int  `json:"standbys"`
}

// lastGeneration is the newest generation the instance logged (zero if
// none yet).
func (in *instance) lastGeneration() generationJoined {
	var g generationJoined
	out := in.c.output()
	i := strings.LastIndex(out, `"msg":"generation joined"`)
	if i < 0 {
		return g
	}
	line := out[strings.LastIndexByte(out[:i], '\n')+1:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	_ = json.Unmarshal([]byte(line), &g)
	return g
}

// waitSettled waits until the given instances (the group's only live
// members) are in one generation that assigns every partition to exactly
// one of them, within the load balance (floor or ceil of partitions /
// members), and each reports every partition it owns ready on /readyz. It
// returns each instance's generation.
func waitSettled(t *testing.T, within time.Duration, partitions int, insts ...*instance) map[*instance]generationJoined {
	t.Helper()
	gens := map[*instance]generationJoined{}
	testrig.CheckFor(t, within, 50*time.Millisecond, func() error {
		clear(gens)
		owner := map[int]string{}
		for _, in := range insts {
			select {
			case <-in.c.done:
				t.Fatalf("%s exited:\n%s", in.name, in.c.tail(40))
			default:
			}
			g := in.lastGeneration()
			if g.Generation == 0 {
				return fmt.Errorf("%s has not joined a generation yet", in.name)
			}
			if g0 := gens[insts[0]]; in != insts[0] && g.Generation != g0.Generation {
				return fmt.Errorf("%s is in generation %d, %s in %d", insts[0].name, g0.Generation, in.name, g.Generation)
			}
			gens[in] = g
			for _, p := range g.Partitions {
				if o, dup := owner[p]; dup {
					return fmt.Errorf("partition %d assigned to %s and %s", p, o, in.name)
				}
				owner[p] = in.name
			}
		}
		if len(owner) != partitions {
			return fmt.Errorf("generation %d assigns %d of %d partitions", gens[insts[0]].Generation, len(owner), partitions)
		}
		for _, in := range insts {
			st, err := in.c.readyz()
			if err != nil {
				return fmt.Errorf("%s: %v", in.name, err)
			}
			if got := slices.Sorted(maps.Keys(st.Detail.Partitions)); !slices.Equal(got, gens[in].Partitions) {
				return fmt.Errorf("%s: /readyz lists partitions %v, its generation %v", in.name, got, gens[in].Partitions)
			}
			if !st.Ready {
				return fmt.Errorf("%s not ready: %+v", in.name, st.Detail.Partitions)
			}
			in.status = st
		}
		return nil
	})
	lo, hi := partitions/len(insts), (partitions+len(insts)-1)/len(insts)
	for in, g := range gens {
		if n := len(g.Partitions); n < lo || n > hi {
			t.Errorf("%s owns %d partitions %v; the load balance allows %d to %d", in.name, n, g.Partitions, lo, hi)
		}
	}
	return gens
}

// waitStandbysWarm waits until every partition has n standbys among the
// instances, each caught up with the changelog as it was when it started
// and applying nothing more (the input is all consumed, so the changelog
// no longer grows).
func waitStandbysWarm(t *testing.T, within time.Duration, partitions, n int, insts ...*instance) {
	t.Helper()
	last, stable := int64(-1), 0
	testrig.CheckFor(t, within, 100*time.Millisecond, func() error {
		count := map[int]int{}
		var restored int64
		for _, in := range insts {
			st, err := in.c.readyz()
			if err != nil {
				return err
			}
			for p, s := range st.Detail.Standbys {
				if s.State != "standby" || s.Remaining != 0 {
					return fmt.Errorf("%s: standby for %d is %s with %d remaining", in.name, p, s.State, s.Remaining)
				}
				count[p]++
				restored += s.Restored
			}
		}
		for p := range partitions {
			if count[p] != n {
				return fmt.Errorf("partition %d has %d standbys, want %d", p, count[p], n)
			}
		}
		if restored != last {
			last, stable = restored, 0
			return fmt.Errorf("standbys still applying (%d records)", restored)
		}
		if stable++; stable < 5 {
			return fmt.Errorf("standbys idle for %d polls", stable)
		}
		return nil
	})
}

// waitCommitted waits until the group has committed at least n input
// offsets in total: the instances are processing.
func waitCommitted(t *testing.T, e *rigEnv, n int64) {
	t.Helper()
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if got := committedTotal(t, e); got < n {
			return fmt.Errorf("%d offsets committed, waiting for %d", got, n)
		}
		return nil
	})
}

// waitDone waits until the group has committed every produced record and
// the instances' outboxes (of the partitions they own) are empty: all
// consumed, folded and delivered.
func waitDone(t *testing.T, e *rigEnv, records int, insts ...*instance) {
	t.Helper()
	testrig.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
		// A producer's retry may have written a record twice (journey
		// drops the copy by its event id): what must be committed is
		// everything the topic holds.
		end, committed := topicProgress(t, e, e.topic)
		switch {
		case end < int64(records):
			return fmt.Errorf("%d records in the topic, %d produced", end, records)
		case committed != end:
			return fmt.Errorf("%d of %d records committed", committed, end)
		}
		for _, in := range insts {
			depth, err := in.outboxDepth()
			if err != nil {
				return err
			}
			if depth != 0 {
				return fmt.Errorf("%s: %v outbox entries not delivered", in.name, depth)
			}
		}
		return nil
	})
}

var outboxDepthRe = regexp.MustCompile(`(?m)^journey_outbox_depth\{partition="(\d+)"\} (\S+)$`)

// outboxDepth sums journey_outbox_depth over the partitions the instance
// owns now (the gauge of a partition that moved away keeps its last value).
func (in *instance) outboxDepth() (float64, error) {
	st, err := in.c.readyz()
	if err != nil {
		return 0, err
	}
	_, body, err := in.c.adminGet("/metrics")
	if err != nil {
		return 0, err
	}
	var depth float64
	for _, m := range outboxDepthRe.FindAllStringSubmatch(string(body), -1) {
		p, _ := strconv.Atoi(m[1])
		if _, owned := st.Detail.Partitions[p]; owned {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return 0, err
			}
			depth += v
		}
	}
	return depth, nil
}

// logPositions reads the changelog position of every local copy in a
// state dir no process holds.
func logPositions(t *testing.T, dir string) map[int]int64 {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pos, err := s.LogPositions()
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// changelogEnds returns the end offset of every partition of a topic.
func changelogEnds(t *testing.T, brokers []string, topic string, partitions int) map[int]int64 {
	t.Helper()
	client, closeClient := freshClient(brokers, 10*time.Second)
	defer closeClient()
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	ends := map[int]int64{}
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	if len(ends) != partitions {
		t.Fatalf("%s: offsets of %d partitions, want %d", topic, len(ends), partitions)
	}
	return ends
}

// runToExit runs a journey command to its end and returns its exit status
// and output.
func runToExit(t *testing.T, within time.Duration, args ...string) (int, string) {
	t.Helper()
	c := startChild(t, args...)
	within = testrig.Within(within)
	select {
	case <-c.done:
	case <-time.After(within):
		t.Fatalf("journey %s did not finish within %v:\n%s", strings.Join(args, " "), within, c.tail(30))
	}
	return c.cmd.ProcessState.ExitCode(), c.output()
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// pacedProducer sends a workload in chunks with a pause between them, but
// never beyond the number of records the test has allowed so far.
type pacedProducer struct {
	limit chan int
	done  chan error
	stop  chan struct{}
	once  sync.Once
}

func startPacedProducer(t *testing.T, e *rigEnv, msgs []kafka.Message, chunk int, pause time.Duration) *pacedProducer {
	t.Helper()
	return startPacedProducerWith(t, e, &kafka.Murmur2Balancer{Consistent: true}, msgs, chunk, pause)
}

// startPacedProducerWith is startPacedProducer with the producer's
// balancer (asWritten: each record to the partition it names).
func startPacedProducerWith(t *testing.T, e *rigEnv, bal kafka.Balancer, msgs []kafka.Message, chunk int, pause time.Duration) *pacedProducer {
	t.Helper()
	p := &pacedProducer{limit: make(chan int, 16), done: make(chan error, 1), stop: make(chan struct{})}
	t.Cleanup(p.halt)
	go func() {
		w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: bal,
			BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
		defer w.Close()
		allowed := 0
		for i := 0; i < len(msgs); {
			for i >= allowed {
				select {
				case allowed = <-p.limit:
				case <-p.stop:
					p.done <- fmt.Errorf("producer halted after %d of %d records", i, len(msgs))
					return
				}
			}
			end := min(i+chunk, allowed, len(msgs))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := w.WriteMessages(ctx, msgs[i:end]...)
			cancel()
			if err != nil {
				p.done <- fmt.Errorf("produce records %d to %d: %w", i, end, err)
				return
			}
			i = end
			select {
			case allowed = <-p.limit:
			case <-p.stop:
				p.done <- fmt.Errorf("producer halted after %d of %d records", i, len(msgs))
				return
			case <-time.After(pause): // pacing the producer, not waiting for a result
			}
		}
		p.done <- nil
	}()
	return p
}

// allow lets the producer send the first n records.
func (p *pacedProducer) allow(n int) { p.limit <- n }

// halt stops the producer after the chunk it is sending.
func (p *pacedProducer) halt() { p.once.Do(func() { close(p.stop) }) }

// wait returns once every record is produced (or producing failed).
func (p *pacedProducer) wait(within time.Duration) error {
	within = testrig.Within(within)
	select {
	case err := <-p.done:
		return err
	case <-time.After(within):
		return fmt.Errorf("the producer did not finish within %v", within)
	}
}
