// Command chaos renders the chaos suite's rows (issue 23) as
// bench/results/reliability.md. `make chaos` runs the scenarios — the
// tests of cmd/journey named TestChaos..., at their full size
// (JOURNEY_CHAOS=1) — and each appends one JSON line per scenario to
// $JOURNEY_CHAOS_REPORT (cmd/journey/chaos_test.go, chaosRow); this
// program turns that file into one table: per scenario the faults, the
// events and malformed records produced, the dead letters, the triggers
// the reference fold expects and the ones lost, duplicated or unexpected,
// the customers whose state differs from the reference fold, and the time
// to recover from each fault (median and max, with what "recovered"
// means); then the explanations of what a scenario is documented to cause.
//
// It judges nothing: the tests fail on a figure that is not zero and not
// documented. It exits 1 when the input has no row or cannot be read.
//
// Usage:
//
//	go run ./bench/chaos -in rows.jsonl -out bench/results/reliability.md
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/bench/internal/report"
	"github.com/journey-dev/journey/internal/chaosreport"
)

// row is one scenario's outcome, as cmd/journey's chaos tests write it.
type row = chaosreport.Row

// machine is what the scenarios ran on.
type machine struct {
	Cores  int
	CPU    string
	Kernel string
	Go     string
	Date   time.Time
	Commit string
}

func main() {
	in := flag.String("in", "", "the scenarios' rows (JSON lines, $JOURNEY_CHAOS_REPORT)")
	out := flag.String("out", "bench/results/reliability.md", "the report to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return fmt.Errorf("-in is required")
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := readRows(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s: no scenario rows (did the TestChaos... tests run?)", in)
	}
	m := machine{
		Cores: runtime.NumCPU(), CPU: report.CPUModel(), Kernel: report.Kernel(), Go: runtime.Version(),
		Date: time.Now().UTC(), Commit: report.Revision(context.Background()),
	}
	var b bytes.Buffer
	render(&b, m, rows)
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return err
	}
	_, err = os.Stdout.Write(b.Bytes())
	return err
}

// readRows reads JSON lines of rows, skipping blank lines.
func readRows(r io.Reader) ([]row, error) {
	var rows []row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var x row
		if err := json.Unmarshal(line, &x); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		rows = append(rows, x)
	}
	return rows, sc.Err()
}

// render writes the report.
func render(w io.Writer, m machine, rows []row) {
	fmt.Fprintln(w, "# journey chaos suite — reliability under faults")
	fmt.Fprintln(w)
	cpu := ""
	if m.CPU != "" {
		cpu = ", " + m.CPU
	}
	fmt.Fprintf(w, "%d cores%s, kernel %s, %s; Kafka and Redis on this machine over loopback (the test rig); journey at %s.  \n",
		m.Cores, cpu, report.Dash(m.Kernel), m.Go, report.Dash(m.Commit))
	var took time.Duration
	short := 0
	for _, r := range rows {
		took += r.Took
		if !r.Full {
			short++
		}
	}
	plural := "s"
	if len(rows) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "Run %s, %d scenario%s in %s (`make chaos`: the tests of cmd/journey named TestChaos..., JOURNEY_CHAOS=1).",
		m.Date.Format(time.RFC3339), len(rows), plural, took.Round(time.Second))
	if short > 0 {
		fmt.Fprintf(w, " %d of them at the short size of `make test` (marked).", short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Triggers and state are counted against an in-process reference fold of the events produced. "+
		"Lost: expected triggers not in Redis; duplicated: extra copies in Redis; unexpected: triggers no reference fold produced; "+
		"state mismatches: customers (or linked ids) whose stored state differs from the reference. "+
		"The target is 0 of each except where a note below documents the cause.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| scenario | faults | events | malformed | dead-lettered | triggers expected | lost | duplicated | unexpected | state mismatches | recovery median / max | recovered when |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		name := r.Scenario
		if !r.Full {
			name += " (short)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			cell(name), cell(r.Faults), report.Int(r.Events), report.Int(r.Malformed), report.Int(r.DeadLettered),
			report.Int(r.Triggers), report.Int(r.Lost), report.Int(r.Duplicated), report.Int(r.Unexpected),
			report.Int(r.Mismatches), recovery(r.Recovery), cell(report.Dash(r.RecoveredWhen)))
	}
	var notes []row
	for _, r := range rows {
		if r.Expected != "" {
			notes = append(notes, r)
		}
	}
	if len(notes) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Expected")
	fmt.Fprintln(w)
	for _, r := range notes {
		fmt.Fprintf(w, "- **%s**: %s\n", r.Scenario, r.Expected)
	}
}

// recovery is "median / max (n)" of ds in seconds, or a dash.
func recovery(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%.1f / %.1f s (%d)", med.Seconds(), s[len(s)-1].Seconds(), len(s))
}

// cell makes s safe in a markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
