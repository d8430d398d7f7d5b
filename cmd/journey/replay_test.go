package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/generate"
	"github.com/journey-dev/journey/pkg/replay"
	"github.com/journey-dev/journey/pkg/state"
)

// replayProcessors is the live configuration of TestReplay: event time
// only (so the live state is a pure function of the topic), and interest
// counting only call-centre views, which the workload has none of, so the
// interest rule never fires live. Identity routing is off: with it, a
// customer's events from two partitions interleave in arrival order, which
// a replay does not reproduce, and some state is order-dependent (an
// engagement score's last digit, the triggers a cooldown held); the
// pipeline's identity tests check a replay's canonical customers.
const replayProcessors = `identity:
  enabled: false
timers:
  idle_advance: 0s
  lateness: 0s
ingest:
  cloudevent_types:
    com.example.product.viewed: Product Viewed
    com.example.survey.submitted: Survey Submitted
    com.example.contact.started: Contact Started
    com.example.contact.ended: Contact Ended
processors:
  interest:
    threshold: 3
    window: 2h
    channels: [call_centre]
    target: email
`

// TestReplay runs journey run over a topic, then journey replay as a
// separate process: (1) a replay from earliest ends with exactly the live
// state; (2) one interrupted with SIGINT and resumed ends with the same
// state; (3) a shadow backtest with a rule only the replay config enables
// writes its triggers to the shadow streams and leaves the live streams and
// context hashes untouched.
func TestReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka and Redis")
	}
	const partitions, customers, events = 4, 300, 6000
	e := newRigEnv(t, partitions)
	msgs := generatedTraffic(t, customers, events)
	w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchSize: 500, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()

	cfg := e.config(t, replayProcessors)
	live := startChild(t, "run", "--config", cfg)
	live.waitReady(t, 60*time.Second)
	settled(t, e, int64(len(msgs)), 90*time.Second)
	if code := live.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exit %d", code)
	}
	liveStates := dumpStates(t, filepath.Join(e.dir, "state"), partitions, replayProcessors)
	liveTriggers, liveContexts := e.liveOutput(t)
	if len(liveStates) < customers/2 || len(liveTriggers) == 0 {
		t.Fatalf("live run: %d customers (want most of %d), %d triggers (want some)", len(liveStates), customers, len(liveTriggers))
	}

	replayTo := func(dir string, extra ...string) *child {
		args := append([]string{"replay", "--config", cfg, "--state-dir", dir, "--from", "earliest", "--progress", "json"}, extra...)
		return startChild(t, args...)
	}
	waitExit := func(c *child, what string) string {
		t.Helper()
		select {
		case <-c.done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s did not finish in 2 minutes; its goroutines:\n%s", what, c.stacks())
		}
		if code := c.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("%s: exit %d\n%s", what, code, c.tail(30))
		}
		return c.output()
	}
	sameStates := func(what string, got map[string]map[string]string) {
		t.Helper()
		if len(got) != len(liveStates) {
			t.Fatalf("%s: %d customers, the live state has %d", what, len(got), len(liveStates))
		}
		for cust, procs := range liveStates {
			for name, want := range procs {
				if got[cust][name] != want {
					t.Fatalf("%s: customer %s, processor %s differs:\n live   %s\n replay %s", what, cust, name, want, got[cust][name])
				}
			}
		}
	}

	// (1) An uninterrupted replay ends with the live state.
	dirA := filepath.Join(e.dir, "replay-a")
	out := waitExit(replayTo(dirA), "replay A")
	if !strings.Contains(out, "finished") || !strings.Contains(out, `"finished":true`) {
		t.Fatalf("replay A did not report finishing:\n%s", out)
	}
	sameStates("replay A", dumpStates(t, dirA, partitions, replayProcessors))
	liveDir := filepath.Join(e.dir, "state")
	diff := startChild(t, "state", "diff", "--config", cfg, liveDir, dirA)
	<-diff.done
	if code := diff.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(diff.output(), "no differences") {
		t.Fatalf("journey state diff live replay-a: exit %d, want 0 and \"no differences\":\n%s", code, diff.output())
	}

	// (2) Interrupted with SIGINT (paced so that it is still running), then
	// resumed by the same command: the same state.
	dirB := filepath.Join(e.dir, "replay-b")
	c := replayTo(dirB, "--max-rate", "1000", "--batch", "50", "--progress-interval", "100ms")
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		for _, line := range strings.Split(c.output(), "\n") {
			var p struct {
				Done     int64 `json:"records_done"`
				Finished bool  `json:"finished"`
			}
			if json.Unmarshal([]byte(line), &p) == nil && p.Done > 0 && !p.Finished {
				return nil
			}
		}
		return fmt.Errorf("no progress yet")
	})
	if code := c.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("interrupted replay: exit %d\n%s", code, c.tail(30))
	}
	if !strings.Contains(c.output(), "Interrupted") {
		t.Fatalf("interrupted replay did not say so:\n%s", c.tail(20))
	}
	if m := manifestOf(t, dirB); m.Done() || m.Folded == 0 || m.Folded >= int64(len(msgs)) {
		t.Fatalf("after SIGINT: manifest done=%v folded=%d; want an unfinished replay part of the way (%d records)", m.Done(), m.Folded, len(msgs))
	}
	waitExit(replayTo(dirB), "resumed replay B")
	if m := manifestOf(t, dirB); !m.Done() || m.Runs != 2 {
		t.Fatalf("after resuming: manifest done=%v runs=%d, want done after 2 runs", m.Done(), m.Runs)
	}
	sameStates("interrupted and resumed replay B", dumpStates(t, dirB, partitions, replayProcessors))

	// (3) Shadow backtest of a rule only the replay config has (interest
	// over web and app views): its triggers reach the shadow streams, and
	// nothing live changes.
	shadowProcs := strings.Replace(replayProcessors, "channels: [call_centre]", "channels: [web, app]", 1)
	shadowCfg := filepath.Join(e.dir, "shadow.yaml")
	if err := os.WriteFile(shadowCfg, []byte(strings.Replace(readFile(t, cfg), replayProcessors, shadowProcs, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	shadowPrefix := strings.TrimSuffix(e.prefix, ":") + "-shadow:"
	out = waitExit(startChild(t, "replay", "--config", shadowCfg, "--state-dir", filepath.Join(e.dir, "replay-c"), "--from", "earliest",
		"--triggers", "shadow", "--shadow-prefix", shadowPrefix, "--progress", "none"), "shadow replay")
	afterTriggers, afterContexts := e.liveOutput(t)
	if len(afterTriggers) != len(liveTriggers) || afterContexts != liveContexts {
		t.Fatalf("live output changed by the shadow replay: %d -> %d triggers, %d -> %d context hashes",
			len(liveTriggers), len(afterTriggers), liveContexts, afterContexts)
	}
	shadow := &rigEnv{rdb: e.rdb, prefix: shadowPrefix}
	shadowIDs, err := shadow.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	interest, err := e.rdb.XLen(context.Background(), shadowPrefix+"triggers:email").Result()
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range shadowIDs {
		if n != 1 {
			t.Fatalf("shadow trigger %s appears %d times", id, n)
		}
	}
	m := manifestOf(t, filepath.Join(e.dir, "replay-c"))
	if interest == 0 || m.Fired["interest.category email"] == 0 {
		t.Fatalf("shadow backtest: %d entries in %striggers:email, manifest %v; want interest triggers", interest, shadowPrefix, m.Fired)
	}
	for id := range liveTriggers {
		if strings.Contains(id, "interest") {
			t.Fatalf("live trigger %s: the interest rule must not fire live", id)
		}
	}
	if !strings.Contains(out, "interest.category") || !strings.Contains(out, "0 undecodable") {
		t.Fatalf("shadow replay summary does not list the interest rule:\n%s", out)
	}

	// (4) promote refuses while a live processor holds the live dir, and
	// swaps once it is stopped.
	live = startChild(t, "run", "--config", cfg)
	live.waitReady(t, 60*time.Second)
	promote := func() (int, string) {
		c := startChild(t, "state", "promote", "--from", dirA, "--to", liveDir)
		<-c.done
		return c.cmd.ProcessState.ExitCode(), c.output()
	}
	if code, out := promote(); code == 0 || !strings.Contains(out, "in use") {
		t.Fatalf("promote while journey run holds the live dir: exit %d, want a refusal naming it in use:\n%s", code, out)
	}
	if code := live.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exit %d", code)
	}
	if code, out := promote(); code != 0 {
		t.Fatalf("promote after the live processor stopped: exit %d\n%s", code, out)
	}
	if m := manifestOf(t, liveDir); !m.Done() {
		t.Fatal("the live dir does not hold the finished replay after promote")
	}
	sameStates("promoted live dir", dumpStates(t, liveDir, partitions, replayProcessors))
	backups, _ := filepath.Glob(liveDir + ".previous-*")
	if len(backups) != 1 {
		t.Fatalf("promote left %d backups of the live dir, want 1", len(backups))
	}

	t.Logf("%d records, %d customers; live %d triggers; shadow %d triggers (%d on the email stream); summary:\n%s",
		len(msgs), customers, len(liveTriggers), len(shadowIDs), interest, out)
}

// generatedTraffic is journey generate's omnichannel customers (Segment and
// CloudEvents, anonymous then identified), events at 50/s of event time
// from workloadStart, with one record in 50 sent twice (a producer retry).
func generatedTraffic(t *testing.T, customers, events int) []kafka.Message {
	t.Helper()
	g, err := generate.New(generate.Config{Customers: customers, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for i := range events {
		m := g.Next(workloadStart.Add(time.Duration(i) * 20 * time.Millisecond))
		km := kafka.Message{Key: m.Key, Value: m.Value, Time: m.Time}
		for _, h := range m.Headers {
			km.Headers = append(km.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs = append(msgs, km)
		if i%50 == 49 {
			msgs = append(msgs, km)
		}
	}
	return msgs
}

// liveOutput is the env's trigger ids and its number of context hashes.
func (e *rigEnv) liveOutput(t *testing.T) (map[string]int, int) {
	t.Helper()
	ids, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := e.rdb.Keys(context.Background(), e.prefix+"ctx:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ids, len(keys)
}

func manifestOf(t *testing.T, dir string) replay.Manifest {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, found, err := replay.LoadManifest(s)
	if err != nil || !found {
		t.Fatalf("manifest of %s: found=%v err=%v", dir, found, err)
	}
	return m
}
