package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-dev/journey/bench/peers/workload"
)

func TestCheckTriggers(t *testing.T) {
	b := &bench{wantTriggers: map[string]bool{"e-1": true, "e-2": true, "l-3": true}}
	if p := b.checkTriggers([]string{"l-3", "e-2", "e-1"}); len(p) != 0 {
		t.Errorf("the same triggers in another order: %v", p)
	}
	p := strings.Join(b.checkTriggers([]string{"e-1", "e-2", "e-2", "e-9"}), "\n")
	for _, want := range []string{`"e-9"`, "1 triggers written twice", "1 of the reference's 3 triggers missing"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems %q lack %q", p, want)
		}
	}
}

func TestCheckSample(t *testing.T) {
	m := workload.NewModel(10, 3)
	g := workload.NewBulk(1, 10, 200, 0, 3_600_000)
	for range 200 {
		e := g.Next()
		m.Fold(&e)
	}
	b := &bench{want: map[string]workload.Snapshot{}}
	for _, n := range []int{2, 5} {
		s := m.Snapshot(n)
		b.want[s.Customer] = s
	}
	line := func(s workload.Snapshot) string {
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(j)
	}
	dump := func(lines ...string) string {
		path := filepath.Join(t.TempDir(), "dump.jsonl")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if _, p, err := b.checkSample(dump(line(m.Snapshot(5)), line(m.Snapshot(2)))); err != nil || len(p) != 0 {
		t.Errorf("a faithful dump: %v %v", p, err)
	}
	bad := m.Snapshot(5)
	bad.Events["Bogus"] = 1
	if _, p, err := b.checkSample(dump(line(m.Snapshot(2)), line(bad))); err != nil || len(p) != 1 || !strings.Contains(p[0], "cust-0000005") {
		t.Errorf("a wrong count: %v %v", p, err)
	}
	if _, p, _ := b.checkSample(dump(line(m.Snapshot(2)))); len(p) != 1 || !strings.Contains(p[0], "1 of the 2 sample customers dumped") {
		t.Errorf("a customer missing: %v", p)
	}
	// An empty map may be written as null (Kafka Streams, Goka).
	b.want = map[string]workload.Snapshot{"cust-x": {Customer: "cust-x", Events: map[string]int64{"page": 1},
		Categories: map[string]workload.CategorySnapshot{}}}
	if _, p, err := b.checkSample(dump(`{"customer":"cust-x","categories":null,"events":{"page":1}}`)); err != nil || len(p) != 0 {
		t.Errorf("null for an empty map: %v %v", p, err)
	}
}

func TestEnoughTriggers(t *testing.T) {
	if err := enoughTriggers(122_608, 5_000); err != nil {
		t.Errorf("a valid run: %v", err)
	}
	for _, c := range [][2]int{{0, 5_000}, {122_608, 0}, {0, 0}} {
		if err := enoughTriggers(c[0], c[1]); err == nil {
			t.Errorf("%d bulk and %d live triggers: no error", c[0], c[1])
		}
	}
}
