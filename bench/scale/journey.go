package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/journey-dev/journey/bench/internal/promsum"
	"github.com/journey-dev/journey/pkg/generate"
)

// buildJourney compiles cmd/journey into dir, as `make build` would but
// with the go command's defaults (CGO_ENABLED from the environment).
func buildJourney(ctx context.Context, goCmd, dir string) (string, error) {
	bin := filepath.Join(dir, "journey")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-o", bin, "./cmd/journey")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/journey: %w\n%s", err, out)
	}
	return bin, nil
}

// group is one consumer group of journey processes and its configuration
// file; its changelog is <group>.changelog, journey's default.
type group struct {
	name      string
	topic     string // the input topic
	config    string
	changelog string
}

// newGroup writes the configuration of a new group over an input topic:
// Redis with a prefix of the group's own (journey remembers the trigger
// ids it delivered), the session timeout, pkg/generate's CloudEvents types
// (the paced producer's), info logs. Everything else is journey's default:
// every processor, state.sync, the changelog with lz4.
func (b *bench) newGroup(ctx context.Context, label, topic string) (*group, error) {
	name := fmt.Sprintf("scale-%s-%s", b.stamp, label)
	g := &group{name: name, topic: topic, changelog: name + ".changelog", config: filepath.Join(b.work, name+".yaml")}
	q := strconv.Quote
	var y strings.Builder
	y.WriteString("kafka:\n  brokers: [")
	for i, a := range b.opts.brokers {
		if i > 0 {
			y.WriteString(", ")
		}
		y.WriteString(q(a))
	}
	fmt.Fprintf(&y, "]\n  group_id: %s\n  topics: [%s]\n  dlq_topic: %s\n  session_timeout: %s\n", q(name), q(topic), q(b.dlq),
		b.opts.sessionTimeout)
	y.WriteString("ingest:\n  cloudevent_types:\n")
	types := generate.CloudEventTypes()
	for _, t := range slices.Sorted(maps.Keys(types)) {
		fmt.Fprintf(&y, "    %s: %s\n", q(t), q(types[t]))
	}
	fmt.Fprintf(&y, "redis:\n  addr: %s\n  prefix: %s\nlog:\n  level: info\n", q(b.opts.redisAddr), q(name+":"))
	if b.opts.memoryLimit > 0 {
		fmt.Fprintf(&y, "state:\n  memory_limit: %d\n", b.opts.memoryLimit)
	}
	if err := os.WriteFile(g.config, []byte(y.String()), 0o644); err != nil {
		return nil, err
	}
	if err := b.cluster.coordinator(ctx, name); err != nil {
		return nil, fmt.Errorf("group %s: no coordinator: %w", name, err)
	}
	return g, nil
}

// proc is one `journey run` process.
type proc struct {
	name     string
	cmd      *exec.Cmd
	logPath  string
	admin    string // host:port of /readyz and /metrics
	stateDir string
	exited   chan struct{}
	waitErr  error
	http     *http.Client
}

// childEnv is the bench's environment less JOURNEY_* variables: the
// configuration file and the flags say everything.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JOURNEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startRun starts `journey run` for g with a state directory of its own
// and waits for its admin server.
func (b *bench) startRun(ctx context.Context, g *group, name string, standbys int) (*proc, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, admin: admin, stateDir: filepath.Join(b.work, g.name, name, "state"), exited: make(chan struct{}),
		logPath: filepath.Join(b.work, g.name, name, "log"), http: &http.Client{Timeout: 2 * time.Second}}
	if err := os.MkdirAll(p.stateDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--config", g.config, "--state-dir", p.stateDir, "--admin-addr", admin, "--api-addr", "", "--standbys", strconv.Itoa(standbys)}
	fmt.Fprintf(logf, "$ journey %s\n", strings.Join(args, " "))
	p.cmd = exec.Command(b.bin, args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C to the bench reaches it only through
	// the bench, which stops it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	err = poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		if err := p.alive(); err != nil {
			return false, err
		}
		resp, err := p.http.Get("http://" + p.admin + "/healthz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return true, nil
	})
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("%s: admin server: %w", name, err)
	}
	return p, nil
}

// alive fails once the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); its log ends:\n%s", p.name, p.waitErr, p.logTail(30))
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; its log ends:\n%s", p.name, timeout, p.logTail(30))
	}
	if p.waitErr != nil {
		return fmt.Errorf("%s: %v; its log ends:\n%s", p.name, p.waitErr, p.logTail(30))
	}
	return nil
}

// kill sends SIGKILL to the process (no clean-up of any kind: it does not
// leave the group) and waits until it is reaped.
func (p *proc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
}

func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// partStatus is one partition of /readyz's detail.
type partStatus struct {
	State     string `json:"state"`
	Restored  int64  `json:"restored"`
	Remaining int64  `json:"remaining"`
}

// readiness is journey's /readyz.
type readiness struct {
	Ready  bool `json:"ready"`
	Detail struct {
		Joined     bool               `json:"joined"`
		Partitions map[int]partStatus `json:"partitions"`
		Standbys   map[int]partStatus `json:"standbys"`
	} `json:"detail"`
}

// readyPartitions returns the partitions the instance processes (state
// "ready"), in order.
func (r readiness) readyPartitions() []int {
	var ids []int
	if !r.Ready || !r.Detail.Joined {
		return nil
	}
	for id, st := range r.Detail.Partitions {
		if st.State == "ready" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (p *proc) readyz(ctx context.Context) (readiness, error) {
	var r readiness
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/readyz", nil)
	if err != nil {
		return r, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return r, fmt.Errorf("%s /readyz: %w", p.name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("%s /readyz: %w", p.name, err)
	}
	return r, nil
}

// scrape is one read of an instance's /metrics; it is a
// prometheus.Gatherer, so bench/internal/promsum sums it.
type scrape []*dto.MetricFamily

func (s scrape) Gather() ([]*dto.MetricFamily, error) { return s, nil }

func (p *proc) metrics(ctx context.Context) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s /metrics: %w", p.name, err)
	}
	return slices.Collect(maps.Values(fams)), nil
}

// sum adds up the series of a metric (promsum.Sum), keeping only those
// whose labels include every name=value of match.
func (s scrape) sum(name string, match ...string) float64 {
	keep := scrape{}
	for _, mf := range s {
		sub := &dto.MetricFamily{Name: mf.Name, Type: mf.Type}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, match) {
				sub.Metric = append(sub.Metric, m)
			}
		}
		keep = append(keep, sub)
	}
	v, _ := promsum.Sum(keep, name)
	return v
}

func hasLabels(m *dto.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == match[i] && l.GetValue() == match[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}

// logSummary counts a journey log's warnings and errors and keeps the
// first few of each kind.
type logSummary struct {
	Warnings int      `json:"warnings"`
	Errors   int      `json:"errors"`
	Samples  []string `json:"samples,omitempty"`
}

func summariseLog(path string) logSummary {
	var s logSummary
	f, err := os.Open(path)
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Level, Msg, Error string
			Partition         *int
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch l.Level {
		case "warn":
			s.Warnings++
		case "error", "dpanic", "panic", "fatal":
			s.Errors++
		default:
			continue
		}
		if len(s.Samples) < 4 {
			line := l.Level + ": " + l.Msg
			if l.Partition != nil {
				line += fmt.Sprintf(" (partition %d)", *l.Partition)
			}
			if l.Error != "" {
				line += ": " + l.Error
			}
			s.Samples = append(s.Samples, line)
		}
	}
	return s
}

// restoreRun is one `journey state restore`.
type restoreRun struct {
	Into    string  `json:"into"` // "empty" or "original"
	Records int64   `json:"records"`
	Seconds float64 `json:"seconds"` // the command's own time (from its records/s)
	Rate    float64 `json:"records_per_second"`
	// Wall runs from the process's start to its exit (Pebble open and
	// close included).
	Wall       float64   `json:"wall_seconds"`
	Cores      cores     `json:"cores"`
	Partitions []partPos `json:"partitions"`
	Log        string    `json:"-"`
}

// partPos is a row of the command's table.
type partPos struct {
	Partition int   `json:"partition"`
	Restored  int64 `json:"restored"`
	Position  int64 `json:"position"`
}

var restoredLine = regexp.MustCompile(`^(\d+) records restored into .* in ([0-9.]+)s \(([0-9.]+) records/s\)$`)

// restore runs `journey state restore --config <g> --state-dir dir` and
// reads its table and its last line.
func (b *bench) restore(ctx context.Context, g *group, dir, into string) (restoreRun, error) {
	r := restoreRun{Into: into, Log: dir + ".log"}
	logf, err := os.Create(r.Log)
	if err != nil {
		return r, err
	}
	defer logf.Close()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, b.bin, "state", "restore", "--config", g.config, "--state-dir", dir)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = &out, logf
	watch := watchCPU(b.services)
	start := time.Now()
	err = cmd.Run()
	r.Wall = time.Since(start).Seconds()
	if err != nil {
		return r, fmt.Errorf("journey state restore into %s: %w\n%s%s", dir, err, out.String(), tail(r.Log, 20))
	}
	r.Cores = watch.cores((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
	fmt.Fprintf(logf, "stdout:\n%s", out.String())
	var last []string
	for l := range strings.Lines(out.String()) {
		l = strings.TrimSpace(l)
		if m := restoredLine.FindStringSubmatch(l); m != nil {
			last = m
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		var pp partPos
		var errs [3]error
		pp.Partition, errs[0] = strconv.Atoi(f[0])
		pp.Restored, errs[1] = strconv.ParseInt(f[1], 10, 64)
		pp.Position, errs[2] = strconv.ParseInt(f[2], 10, 64)
		if errors.Join(errs[:]...) == nil {
			r.Partitions = append(r.Partitions, pp)
		}
	}
	if last == nil {
		return r, fmt.Errorf("journey state restore printed no 'N records restored' line:\n%s", out.String())
	}
	r.Records, _ = strconv.ParseInt(last[1], 10, 64)
	r.Seconds, _ = strconv.ParseFloat(last[2], 64)
	r.Rate, _ = strconv.ParseFloat(last[3], 64)
	if r.Rate > 0 { // the printed seconds have one decimal; the rate is exact
		r.Seconds = float64(r.Records) / r.Rate
	}
	return r, nil
}

// diff runs `journey state diff` on two state directories and returns
// whether they are identical and what it printed.
func (b *bench) diff(ctx context.Context, g *group, a, c string) (bool, string, error) {
	cmd := exec.CommandContext(ctx, b.bin, "state", "diff", "--config", g.config, a, c)
	cmd.Env = childEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, strings.TrimSpace(out.String()), nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, strings.TrimSpace(out.String()), nil
	default:
		return false, "", fmt.Errorf("journey state diff: %w\n%s%s", err, out.String(), errOut.String())
	}
}

func tail(path string, n int) string {
	p := proc{logPath: path}
	return p.logTail(n)
}
