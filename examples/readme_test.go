package examples_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/admin"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/generate"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// readFile returns a file of the repository (the test runs in examples/).
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns README's text under heading (a whole line, e.g. "##
// Quick start") up to the next heading of the same or a higher level.
func section(t *testing.T, readme, heading string) string {
	t.Helper()
	level := strings.IndexByte(heading, ' ')
	lines := strings.Split(readme, "\n")
	for i, l := range lines {
		if l != heading {
			continue
		}
		fenced := false // in a code block, where "# " starts a comment
		for j := i + 1; j < len(lines); j++ {
			if strings.HasPrefix(lines[j], "```") {
				fenced = !fenced
			}
			if n := len(lines[j]) - len(strings.TrimLeft(lines[j], "#")); !fenced && n > 0 && n <= level &&
				strings.HasPrefix(lines[j][n:], " ") {
				return strings.Join(lines[i+1:j], "\n")
			}
		}
		return strings.Join(lines[i+1:], "\n")
	}
	t.Fatalf("README has no heading %q", heading)
	return ""
}

// codeBlocks returns the bodies of the fenced blocks of language lang in
// text.
func codeBlocks(text, lang string) []string {
	re := regexp.MustCompile("(?ms)^```" + lang + "\n(.*?)^```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

var trailingComment = regexp.MustCompile(`\s+#.*$`)

// commandLine is a shell line without its comment, surrounding blanks and
// a trailing "&".
func commandLine(l string) string {
	l = strings.TrimSpace(trailingComment.ReplaceAllString(l, ""))
	return strings.TrimSpace(strings.TrimSuffix(l, "&"))
}

// scriptPlumbing are the lines of the script's quick-start part that are
// not commands README shows: the choice of starting the rig (or, with the
// services given, only building bin/journey as make up does), and the
// bookkeeping that stops what it started.
var scriptPlumbing = regexp.MustCompile(`^(if \[\[ .* \]\]; then|else|fi|started_rig=1|pids\+=\(\$!\)|go build -o bin/journey ./cmd/journey)$`)

// TestReadmeQuickStart checks that the commands of README's quick start
// (after the demo) are the commands examples/quickstart.sh runs, in the
// same order: the script is what the quick-start test runs, so README
// cannot drift from what was tested.
func TestReadmeQuickStart(t *testing.T) {
	readme := readFile(t, "README.md")
	qs := section(t, readme, "## Quick start")
	i := strings.Index(qs, "**2. ")
	if i < 0 {
		t.Fatal(`README's quick start has no "**2. " part (a real Kafka and Redis)`)
	}
	var want []string
	for _, b := range codeBlocks(qs[i:], "sh") {
		for _, l := range strings.Split(b, "\n") {
			if c := commandLine(l); c != "" {
				want = append(want, c)
			}
		}
	}
	if len(want) < 5 {
		t.Fatalf("README's quick start shows %d commands: %q", len(want), want)
	}

	script := readFile(t, "examples/quickstart.sh")
	const begin, end = "# >>> README quick start\n", "# <<< README quick start\n"
	a, b := strings.Index(script, begin), strings.Index(script, end)
	if a < 0 || b < a {
		t.Fatalf("examples/quickstart.sh has no %q ... %q part", begin, end)
	}
	var got []string
	for _, l := range strings.Split(script[a+len(begin):b], "\n") {
		c := commandLine(l)
		if c == "" || scriptPlumbing.MatchString(c) {
			continue
		}
		got = append(got, c)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README's quick start and examples/quickstart.sh differ\nREADME:\n  %s\nscript:\n  %s",
			strings.Join(want, "\n  "), strings.Join(got, "\n  "))
	}
}

// TestReadmeConsumerLoop checks that the Go loop README shows is the one
// of examples/redis-consumer, the program the tests run.
func TestReadmeConsumerLoop(t *testing.T) {
	readme := readFile(t, "README.md")
	blocks := codeBlocks(section(t, readme, "## Reading triggers: the Redis contract"), "go")
	if len(blocks) != 1 {
		t.Fatalf("README's Reading triggers has %d Go blocks, want 1", len(blocks))
	}
	var indented strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(blocks[0], "\n"), "\n") {
		if l != "" {
			indented.WriteString("\t" + l)
		}
		indented.WriteString("\n")
	}
	src := readFile(t, "examples/redis-consumer/main.go")
	if !strings.Contains(src, indented.String()) {
		t.Errorf("README's consumer loop is not in examples/redis-consumer/main.go (one tab deeper there):\n%s", blocks[0])
	}
}

// TestReadmeReadyz checks that the /readyz answer README shows is what the
// admin server answers for that status.
func TestReadmeReadyz(t *testing.T) {
	st := pipeline.Status{Joined: true, Partitions: map[int]pipeline.PartitionStatus{
		3: {State: pipeline.StateRestoring, Restored: 41234, Remaining: 9000},
	}, Reason: "partition 3 restoring: 41234 changelog records applied, 9000 left"} // as Pipeline.Status sets it
	srv, err := admin.Listen("127.0.0.1:0", prometheus.NewRegistry(), func() (bool, any) { return st.Ready(), st })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	resp, err := http.Get("http://" + srv.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz of a restoring partition answered %s, README says 503", resp.Status)
	}
	want := "`" + strings.TrimSpace(string(body)) + "`"
	if readme := readFile(t, "README.md"); !strings.Contains(readme, want) {
		t.Errorf("README does not show /readyz's answer %s", want)
	}
}

// TestReadmeDemoCustomer checks that the customer whose context README's
// demo commands read is among the first the demo's simulation brings in:
// journey dev's defaults are --customers 500 --seed 1 (cmd/journey/dev.go)
// at 50 events/s. Which customers come first does not depend on the
// timing: before anyone's next step is due, the generator starts visits
// in the order its seed gives.
func TestReadmeDemoCustomer(t *testing.T) {
	m := regexp.MustCompile(`HGETALL journey:ctx:(\S+)`).FindStringSubmatch(readFile(t, "README.md"))
	if m == nil {
		t.Fatal("README shows no HGETALL journey:ctx:<customer>")
	}
	g, err := generate.New(generate.Config{Customers: 500, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	var keys []string
	for i := range 50 { // the first second at 50 events/s
		k := string(g.Next(t0.Add(time.Duration(i) * 20 * time.Millisecond)).Key)
		if k == m[1] {
			return
		}
		keys = append(keys, k)
	}
	t.Errorf("README reads the context of %s, not among the demo's first customers: %q", m[1], keys)
}

// TestReadmeSendingEvents runs README's kcat examples with a kcat that
// records what it would send, and decodes each record as journey run
// with journey.example.yaml would, now: none is dead-lettered.
func TestReadmeSendingEvents(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	cfg := config.Default()
	if err := cfg.Load("../journey.example.yaml"); err != nil {
		t.Fatal(err)
	}
	dec, err := app.Decoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(section(t, readFile(t, "README.md"), "## Sending events: the event contract"), "sh")
	if len(blocks) != 2 {
		t.Fatalf("README's Sending events has %d sh blocks, want 2 (Segment, CloudEvents)", len(blocks))
	}
	for i, block := range blocks {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dir := t.TempDir()
			// The stand-in kcat: its arguments one a line, then what it read.
			shim := `kcat() { printf '%s\n' "$@" > "$DIR/args"; cat > "$DIR/value"; }` + "\n"
			cmd := exec.Command(bash, "-euo", "pipefail", "-c", shim+block)
			cmd.Env = append(os.Environ(), "DIR="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s\n%s", err, out, block)
			}
			args, err := os.ReadFile(filepath.Join(dir, "args"))
			if err != nil {
				t.Fatal(err)
			}
			value, err := os.ReadFile(filepath.Join(dir, "value"))
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			rec := ingest.Record{Time: now}
			var keySep string
			as := strings.Split(strings.TrimSuffix(string(args), "\n"), "\n")
			for j := 0; j+1 < len(as); j++ {
				switch as[j] {
				case "-t":
					rec.Topic = as[j+1]
				case "-K":
					keySep = as[j+1]
				case "-H":
					k, v, _ := strings.Cut(as[j+1], "=")
					rec.Headers = append(rec.Headers, ingest.Header{Key: k, Value: []byte(v)})
				}
			}
			v := strings.TrimSuffix(string(value), "\n")
			if keySep != "" {
				k, rest, ok := strings.Cut(v, keySep)
				if !ok {
					t.Fatalf("-K %q but no key in %q", keySep, v)
				}
				rec.Key, v = []byte(k), rest
			}
			rec.Value = []byte(v)
			if rec.Topic != cfg.Kafka.Topics[0] {
				t.Errorf("README sends to %q, journey.example.yaml reads %q", rec.Topic, cfg.Kafka.Topics)
			}
			ev, err := dec.Decode(rec)
			if err != nil {
				t.Fatalf("journey would dead-letter README's example: %v\n%s", err, rec.Value)
			}
			if d := ev.Time.Sub(now); d < -time.Minute || d > time.Minute {
				t.Errorf("event time %s is %s from now", ev.Time, d)
			}
			if ev.CustomerID != string(rec.Key) {
				t.Errorf("customer %q, keyed by %q", ev.CustomerID, rec.Key)
			}
		})
	}
}
