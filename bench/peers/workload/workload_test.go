package workload_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/bench/peers/workload"
	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/profile"
)

func TestSameSeedSameBytes(t *testing.T) {
	gen := func() []byte {
		g := workload.NewBulk(7, 100, 2000, 1_700_000_000_000, 1_700_000_000_000+3_600_000)
		var b []byte
		for range 2000 {
			e := g.Next()
			b = append(b, e.Key()...)
			b = workload.AppendJSON(b, &e)
		}
		return b
	}
	if a, b := gen(), gen(); !bytes.Equal(a, b) {
		t.Fatal("two generators with the same seed differ")
	}
}

// TestReferenceIsJourney folds a workload through journey's real decoder
// and engine, configured by bench/peers/journey.yaml, and checks every
// customer's state and every trigger against the reference fold: the
// benchmark's definition of the fold is journey's behaviour under that
// configuration.
func TestReferenceIsJourney(t *testing.T) {
	const customers, events, threshold = 300, 20_000, 3
	cfg := config.Default()
	if err := cfg.Load("../journey.yaml"); err != nil {
		t.Fatal(err)
	}
	procs, err := processors.Build(cfg.Processors, []string{profile.Name, interest.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := procs[1].(*interest.Processor).Config().Threshold; got != threshold {
		t.Fatalf("journey.yaml: interest.threshold is %d, the test assumes %d", got, threshold)
	}
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := app.Decoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	model := workload.NewModel(customers, threshold)
	state := map[string]*journey.Customer{}
	to := time.Now().UnixMilli()
	bulk := workload.NewBulk(1, customers, events, to-4*3_600_000, to)
	live := workload.NewLive(2, customers, 5000, to+60_000)
	var out journey.Output
	var want, got []string
	var buf []byte
	for i := range events + events/4 {
		g := bulk
		if i >= events {
			g = live
		}
		e := g.Next()
		if tr, ok := model.Fold(&e); ok {
			want = append(want, journey.TriggerID(interest.Rule, workload.CustomerID(tr.Customer), tr.EventID))
		}
		buf = workload.AppendJSON(buf[:0], &e)
		if !json.Valid(buf) {
			t.Fatalf("event %d is not JSON: %s", i, buf)
		}
		ev, err := dec.Decode(ingest.Record{Topic: "t", Key: []byte(e.Key()), Value: buf, Time: time.Now()})
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, buf)
		}
		c := state[ev.CustomerID]
		if c == nil {
			c = engine.NewCustomer(ev.CustomerID)
			if err := engine.Load(c, func(string, journey.Processor, journey.State) (bool, error) { return false, nil }); err != nil {
				t.Fatal(err)
			}
			state[ev.CustomerID] = c
		}
		out.Reset()
		if err := engine.Fold(c, &ev, &out); err != nil {
			t.Fatal(err)
		}
		for _, tr := range out.Triggers {
			got = append(got, tr.ID)
		}
	}
	if len(want) == 0 {
		t.Fatal("the reference fired no trigger")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("journey fired %d triggers, the reference %d (or in another order)", len(got), len(want))
	}
	for n := range customers {
		id := workload.CustomerID(n)
		c := state[id]
		if c == nil {
			t.Fatalf("customer %s has no event", id)
		}
		js := workload.JourneySnapshot(id, c.States[0].(*profile.State), c.States[1].(*interest.State))
		if ref := model.Snapshot(n); !reflect.DeepEqual(js, ref) {
			t.Errorf("customer %s:\njourney   %+v\nreference %+v", id, js, ref)
		}
	}
	t.Logf("%d events, %d triggers", events+events/4, len(want))
}

// A generator's Zone names every event's time zone; none is Europe/Paris,
// as bench/peers has always produced.
func TestZone(t *testing.T) {
	for _, zone := range []string{"", "Etc/GMT-9"} {
		g := workload.NewBulk(1, 10, 10, 0, 3_600_000)
		g.Zone = zone
		want := zone
		if want == "" {
			want = "Europe/Paris"
		}
		for range 10 {
			e := g.Next()
			if b := workload.AppendJSON(nil, &e); e.Kind == workload.ProductViewed && !strings.Contains(string(b), `"timezone":"`+want+`"`) {
				t.Fatalf("zone %q: %s", zone, b)
			}
		}
	}
}
