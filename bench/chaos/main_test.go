package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testMachine = machine{Cores: 2, CPU: "AMD EPYC", Kernel: "6.18.44", Go: "go1.26.8",
	Date: time.Date(2026, 12, 7, 13, 0, 0, 0, time.UTC), Commit: "abc1234"}

const testRows = `{"scenario":"kill -9, one instance","faults":"50 kill -9 | at random","events":4468,"malformed":162,"dead_lettered":164,"triggers_expected":101,"lost":0,"duplicated":0,"unexpected":0,"state_mismatches":0,"recovery_ns":[3000000000,1000000000,2000000000,10000000000],"recovered_when":"/readyz 200","expected":"2 dead letters written twice","took_ns":60000000000,"full":true}

{"scenario":"rolling","faults":"2 kills","events":1234567,"triggers_expected":85,"lost":1,"duplicated":2,"unexpected":3,"state_mismatches":4,"took_ns":30000000000,"full":false}
`

// TestRender renders two rows: the table (figures grouped, recovery as
// median / max (count), a pipe in a cell escaped, a row of make test's
// size marked), the machine line, and the notes of the row that has one.
func TestRender(t *testing.T) {
	rows, err := readRows(strings.NewReader(testRows))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	render(&b, testMachine, rows)
	want := "# journey chaos suite — reliability under faults\n" +
		"\n" +
		"2 cores, AMD EPYC, kernel 6.18.44, go1.26.8; Kafka and Redis on this machine over loopback (the test rig); journey at abc1234.  \n" +
		"Run 2026-12-07T13:00:00Z, 2 scenarios in 1m30s (`make chaos`: the tests of cmd/journey named TestChaos..., JOURNEY_CHAOS=1). 1 of them at the short size of `make test` (marked).\n" +
		"\n" +
		"Triggers and state are counted against an in-process reference fold of the events produced. Lost: expected triggers not in Redis; duplicated: extra copies in Redis; unexpected: triggers no reference fold produced; state mismatches: customers (or linked ids) whose stored state differs from the reference. The target is 0 of each except where a note below documents the cause.\n" +
		"\n" +
		"| scenario | faults | events | malformed | dead-lettered | triggers expected | lost | duplicated | unexpected | state mismatches | recovery median / max | recovered when |\n" +
		"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n" +
		"| kill -9, one instance | 50 kill -9 \\| at random | 4,468 | 162 | 164 | 101 | 0 | 0 | 0 | 0 | 2.5 / 10.0 s (4) | /readyz 200 |\n" +
		"| rolling (short) | 2 kills | 1,234,567 | 0 | 0 | 85 | 1 | 2 | 3 | 4 | – | – |\n" +
		"\n" +
		"## Expected\n" +
		"\n" +
		"- **kill -9, one instance**: 2 dead letters written twice\n"
	if got := b.String(); got != want {
		t.Errorf("render:\n%s\nwant:\n%s", got, want)
	}
}

func TestRecovery(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		ds   []time.Duration
		want string
	}{
		{nil, "–"},
		{[]time.Duration{2 * s}, "2.0 / 2.0 s (1)"},
		{[]time.Duration{3 * s, 1 * s, 2 * s}, "2.0 / 3.0 s (3)"},
		{[]time.Duration{4 * s, 1 * s, 2 * s, 3 * s}, "2.5 / 4.0 s (4)"},
	} {
		if got := recovery(c.ds); got != c.want {
			t.Errorf("recovery(%v) = %q, want %q", c.ds, got, c.want)
		}
	}
}

// TestRun writes the report from a file of rows, and refuses an input
// with none or with a line that is not a row.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "rows.jsonl"), filepath.Join(dir, "reliability.md")
	if err := os.WriteFile(in, []byte(testRows), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "| rolling (short) | 2 kills |") {
		t.Errorf("report lacks the rolling row:\n%s", b)
	}
	for name, content := range map[string]string{"empty": "\n", "garbage": "{\"scenario\": 1}\n"} {
		if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := run(in, out); err == nil {
			t.Errorf("%s input: no error", name)
		}
	}
	if err := run("", out); err == nil {
		t.Error("no -in: no error")
	}
}
