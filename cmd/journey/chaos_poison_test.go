package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// poisonProcessors are crashProcessors with the timeline on, so that every
// processor folds (the identity slot is on by default).
const poisonProcessors = crashProcessors + `  timeline:
    enabled: true
`

// faultsMarker is the text of the injector's error
// (pkg/journey/faults_journeyfaults.go): in the journeyfaults build only.
const faultsMarker = "injected fault (journeyfaults build)"

// poisonSecret is in every poison event's id: a value that must reach no
// log line and no dead letter's headers.
const poisonSecret = "s3cret-value"

// TestChaosPoisonEventPerProcessor (issue 23, "a poison event for each
// processor") runs the journeyfaults build of journey on the real rig and
// feeds it live traffic with, for every processor of the engine (the
// identity slot included), an event on which that processor returns an
// error and one on which it panics. Each is dead-lettered with reason
// fold_violation naming the processor and no value, counted in
// journey_dlq_total, and has no effect: the one process keeps running (no
// exit, no restart), every partition goes on, every good event is folded
// (state equals the reference fold of the good events alone) and every
// expected trigger is delivered once.
func TestChaosPoisonEventPerProcessor(t *testing.T) {
	started := time.Now()
	const partitions = 4
	customers, perCustomer, rounds := chaosSize(40, 200), chaosSize(10, 25), chaosSize(1, 5)
	e := newRigEnv(t, partitions)
	good := crashWorkload(23, customers, perCustomer, workloadStart)
	wantStates, wantTriggers := expectedFold(t, poisonProcessors, e.topic, partitions, good)
	if len(wantTriggers) == 0 {
		t.Fatal("the workload yields no triggers; not a meaningful test")
	}

	names := append(builtProcessors(t, poisonProcessors), journey.IdentityName)
	msgs, poison := withPoison(t, good, names, rounds)
	t.Logf("%d good records, %d poison events (an error and a panic in each of %s, %d rounds)",
		len(good), len(poison), strings.Join(names, ", "), rounds)

	cfg := e.config(t, poisonProcessors+"identity:\n  enabled: true # its slot is one of the engine's processors\n")
	c := startChildBin(t, journeyFaultsBinary(t), "run", "--config", cfg)
	c.waitReady(t, time.Minute)
	produceMixed(t, e, msgs, 50)
	row, metrics := foldOutcome(t, e, c, int64(len(msgs)), poisonProcessors, wantStates, wantTriggers)

	dls := e.deadLetters(t)
	seen := map[string]bool{}
	for _, d := range dls {
		var v struct {
			ID string `json:"messageId"`
		}
		if err := json.Unmarshal(d.value, &v); err != nil {
			t.Errorf("dead letter's value is not the event: %v", err)
			continue
		}
		want, ok := poison[v.ID]
		switch {
		case !ok:
			t.Errorf("dead letter of %q (reason %s, %q): not a poison event", v.ID, d.reason, d.message)
		case seen[v.ID]:
			t.Errorf("poison event %s dead-lettered twice", v.ID)
		case d.reason != string(pipeline.ReasonFold) || d.message != want:
			t.Errorf("poison event %s: dead letter reason %q, message %q; want %q, %q", v.ID, d.reason, d.message, pipeline.ReasonFold, want)
		}
		seen[v.ID] = true
		for k, h := range d.headers {
			if strings.Contains(h, poisonSecret) {
				t.Errorf("dead letter header %s holds a value of the event: %q", k, h)
			}
		}
	}
	for id := range poison {
		if !seen[id] {
			t.Errorf("poison event %s not dead-lettered", id)
		}
	}
	m := dlqMetric(metrics)
	if m[string(pipeline.ReasonFold)] != float64(len(poison)) {
		t.Errorf("journey_dlq_total by reason %v; want fold_violation %d", m, len(poison))
	}
	if strings.Contains(c.output(), poisonSecret) {
		t.Error("journey's log holds a value of a poison event")
	}
	if n := strings.Count(c.output(), `"msg":"journey running`); n > 1 {
		t.Errorf("journey logged %d starts; want one process", n)
	}

	row.Scenario = "poison event for each processor"
	row.Faults = fmt.Sprintf("%d poison events: an error and a panic in each of %d processors (%s), ×%d, in live traffic",
		len(poison), len(names), strings.Join(names, ", "), rounds)
	row.Events, row.Malformed, row.DeadLettered = len(good), len(poison), len(dls)
	row.Took = time.Since(started)
	recordChaos(t, row)
	if len(dls) != len(poison) {
		t.Errorf("%d dead letters, want %d", len(dls), len(poison))
	}
}

// TestChaosPoisonInjectorNotInProduction checks that the fault injector of
// poison events is only in the journeyfaults build: the production binary
// (journeyBinary, as go build makes it) holds none of its text and was
// built without the tag.
func TestChaosPoisonInjectorNotInProduction(t *testing.T) {
	for _, b := range []struct {
		name, path string
		faults     bool
	}{{"production", journeyBinary(t), false}, {"journeyfaults", journeyFaultsBinary(t), true}} {
		data := readFile(t, b.path)
		if got := strings.Contains(data, faultsMarker); got != b.faults {
			t.Errorf("%s build holds the injector's text: %v, want %v", b.name, got, b.faults)
		}
		out, err := exec.Command("go", "version", "-m", b.path).CombinedOutput()
		if err != nil {
			t.Fatalf("go version -m: %v\n%s", err, out)
		}
		if got := bytes.Contains(out, []byte("-tags=journeyfaults")); got != b.faults {
			t.Errorf("%s build's settings name the journeyfaults tag: %v, want %v", b.name, got, b.faults)
		}
	}
}

// builtProcessors are the names of the processors procYAML enables, in
// fold order.
func builtProcessors(t *testing.T, procYAML string) []string {
	t.Helper()
	procs := buildProcessors(t, procYAML)
	var names []string
	for _, p := range procs {
		names = append(names, p.Name())
	}
	return names
}

// withPoison inserts into good, spread evenly, rounds poison events per
// processor and kind ("err", "panic"): each a copy of the good event before
// it (same customer, key and time, so it would change state and maybe
// trigger if it were folded) with the id "poison:<processor>:<kind>:...".
// It returns the records and each poison id's expected dead-letter message.
func withPoison(t *testing.T, good []kafka.Message, names []string, rounds int) ([]kafka.Message, map[string]string) {
	t.Helper()
	type spec struct{ name, kind, id string }
	var specs []spec
	for r := range rounds {
		for _, name := range names {
			for _, kind := range []string{"err", "panic"} {
				specs = append(specs, spec{name, kind, fmt.Sprintf("poison:%s:%s:%s-%d", name, kind, poisonSecret, r)})
			}
		}
	}
	want := map[string]string{}
	var msgs []kafka.Message
	next := 0
	for i, s := range specs {
		at := (i + 1) * len(good) / (len(specs) + 1)
		msgs = append(msgs, good[next:at+1]...)
		next = at + 1
		var v map[string]any
		if err := json.Unmarshal(good[at].Value, &v); err != nil {
			t.Fatal(err)
		}
		v["messageId"] = s.id
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, kafka.Message{Key: good[at].Key, Value: b})
		if s.kind == "err" {
			want[s.id] = fmt.Sprintf("%v: processor %s: %s", journey.ErrFold, s.name, faultsMarker)
		} else {
			want[s.id] = fmt.Sprintf("%v: panic in %s (journey.InjectedPanic)", journey.ErrFold, s.name)
		}
	}
	msgs = append(msgs, good[next:]...)
	if len(msgs) != len(good)+len(specs) {
		t.Fatalf("withPoison: %d records, want %d", len(msgs), len(good)+len(specs))
	}
	return msgs, want
}

// produceMixed writes msgs in order (each to its key's partition, a
// keyless one anywhere), chunk by chunk, as live traffic.
func produceMixed(t *testing.T, e *rigEnv, msgs []kafka.Message, chunk int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(e.brokers...), Topic: e.topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchTimeout: time.Millisecond, BatchBytes: 4 << 20, RequiredAcks: kafka.RequireAll, Transport: &kafka.Transport{}}
	defer w.Close()
	for i := 0; i < len(msgs); i += chunk {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := w.WriteMessages(ctx, msgs[i:min(i+chunk, len(msgs))]...)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // pacing the producer, not waiting for a result
	}
}
