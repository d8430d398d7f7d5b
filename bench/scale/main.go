// Command scale measures journey's changelog (DESIGN.md, "Scale-out: the
// changelog protocol") on a real Kafka broker and a real Redis, with the
// journey binary itself: it builds ./cmd/journey and runs `journey run`,
// `journey state restore` and `journey state diff` as processes.
//
//  1. Restore. It produces a reproducible workload (bench/peers/workload:
//     by default 500,000 Segment events of 50,000 customers on 8
//     partitions) and runs one `journey run` (every processor, journey's
//     defaults) until the group has committed all of it; every round
//     went to <group>.changelog. With journey stopped, it alternates a plain
//     kafka-go read of the whole changelog (the baseline, in this process)
//     and `journey state restore` into an empty directory, and reports the
//     ratio of the best rates (records/s). Then `journey state diff` checks
//     the rebuilt state equals the original, and `journey state restore`
//     into the original directory shows the tail-only path (nothing to
//     apply).
//  3. Forget (after the failovers). A topic of -forget-customers customers
//     (1,000,000 by default, one event each) is folded by one `journey
//     run`; every trigger stream it wrote is filled to
//     redis.stream_max_len; then `journey forget --wait` runs for 1 id and
//     for 10 (customers with triggers first), timed start to exit, and
//     Redis is scanned for anything of theirs left.
//  2. Failover. For each -standbys value, a group of -instances instances
//     (a group and so a changelog of its own) folds the same topic; once
//     the group has committed it, a paced producer (pkg/generate, as
//     `journey generate`) runs, one instance is killed with SIGKILL, and the
//     survivors' /readyz is polled every -poll until every partition is
//     ready on one of them: the time from the kill (mostly the session
//     timeout, which is reported, and the rest apart), and the changelog
//     records the moved partitions restored.
//
// It reports figures and never judges them; it exits 1 when the work is
// wrong (a restore short of the changelog's end, a restored state that
// differs, a partition never ready again), after writing the report.
// Results go to stdout and to <out>/scale.json and scale.md.
//
// Usage (the rig exports KAFKA_BROKERS and REDIS_ADDR):
//
//	go run ./bench/scale [-events 500000] [-customers 50000] [-partitions 8] [-standbys 0,1] [-instances 2]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/bench/internal/report"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

type options struct {
	brokers        []string
	redisAddr      string
	events         int
	customers      int
	partitions     int
	seed           uint64
	runs           int
	instances      int
	standbys       []int
	sessionTimeout time.Duration
	rate           int
	steady         time.Duration
	pollEvery      time.Duration
	readyTimeout   time.Duration
	catchUpTimeout time.Duration
	goCmd          string
	bin            string
	out            string
	keep           bool
	// forgetCustomers: the forget phase's customers (0: no forget phase).
	forgetCustomers int
	// memoryLimit is every journey run's state.memory_limit (0: the default).
	memoryLimit int64
}

// bench is what the phases share.
type bench struct {
	opts     options
	cluster  *cluster
	bin      string // the journey binary
	work     string // temporary folder: configurations, state directories, logs
	stamp    string
	topic    string
	dlq      string
	services []int // the rig's Kafka and Redis
	started  time.Time
}

// logf prints a progress line with the time since the start.
func (b *bench) logf(format string, args ...any) {
	fmt.Printf("[%5.1fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

// fromEnv is the value of the first of the variables that is set.
func fromEnv(names ...string) string {
	i := slices.IndexFunc(names, func(n string) bool { return os.Getenv(n) != "" })
	if i < 0 {
		return ""
	}
	return os.Getenv(names[i])
}

func run() error {
	var o options
	brokers := flag.String("brokers", fromEnv("KAFKA_BROKERS", "JOURNEY_TEST_KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated [$KAFKA_BROKERS]")
	flag.StringVar(&o.redisAddr, "redis", fromEnv("REDIS_ADDR", "JOURNEY_TEST_REDIS_ADDR"), "Redis host:port [$REDIS_ADDR]")
	flag.IntVar(&o.events, "events", 500_000, "events in the input topic")
	flag.IntVar(&o.customers, "customers", 50_000, "customers (each has at least one event)")
	flag.IntVar(&o.partitions, "partitions", 8, "partitions of the input topic (and so of every changelog)")
	flag.Uint64Var(&o.seed, "seed", 1, "workload seed")
	flag.IntVar(&o.runs, "runs", 2, "raw read / restore pairs, run alternately")
	flag.IntVar(&o.instances, "instances", 2, "instances of each failover group (one is killed)")
	standbys := flag.String("standbys", "0,1", "failover groups to run, by --standbys value, comma-separated (empty: no failover)")
	flag.DurationVar(&o.sessionTimeout, "session-timeout", 10*time.Second, "kafka.session_timeout of every group (journey's default is 10s)")
	flag.IntVar(&o.rate, "rate", 1000, "events/s of the paced producer during a failover")
	flag.DurationVar(&o.steady, "steady", 5*time.Second, "how long the paced producer runs before the kill")
	flag.DurationVar(&o.pollEvery, "poll", 20*time.Millisecond, "how often the survivors' /readyz is polled after the kill")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "longest wait for every partition to be ready after the kill")
	flag.DurationVar(&o.catchUpTimeout, "catch-up-timeout", 5*time.Minute, "longest wait for a group to process the input topic")
	flag.StringVar(&o.goCmd, "go", "go", "the go command that builds ./cmd/journey")
	flag.StringVar(&o.bin, "journey", "", "a journey binary to use instead of building ./cmd/journey")
	flag.StringVar(&o.out, "out", "bench/results", "folder for scale.json and scale.md")
	flag.Int64Var(&o.memoryLimit, "memory-limit", 0, "state.memory_limit of every journey run (bytes; 0: journey's default)")
	flag.IntVar(&o.forgetCustomers, "forget-customers", 1_000_000, "customers in state for the forget phase (journey forget --wait timed; 0: none)")
	flag.BoolVar(&o.keep, "keep", false, "keep the state directories, configurations and logs (printed at the end)")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	if *brokers == "" || o.redisAddr == "" {
		return errors.New("no Kafka or Redis: run it inside the rig (rig exec exports KAFKA_BROKERS and REDIS_ADDR), or pass -brokers and -redis")
	}
	o.brokers = splitList(*brokers)
	for _, s := range splitList(*standbys) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("-standbys: %q is not a number of standbys", s)
		}
		o.standbys = append(o.standbys, n)
	}
	if o.events < o.customers || o.customers < 1 || o.partitions < 1 || o.runs < 1 || o.instances < 2 || o.rate < 1 {
		return errors.New("need events >= customers >= 1, partitions >= 1, runs >= 1, instances >= 2, rate >= 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	b := &bench{opts: o, cluster: newCluster(o.brokers), stamp: strconv.FormatInt(time.Now().Unix(), 10),
		services: rigServices(o.brokers[0], o.redisAddr), started: time.Now()}
	b.topic, b.dlq = "scale.events."+b.stamp, "scale.dlq."+b.stamp
	var err error
	if b.work, err = os.MkdirTemp("", "bench-scale-"); err != nil {
		return err
	}
	keep := o.keep
	defer func() {
		if keep {
			fmt.Printf("kept: %s\n", b.work)
		} else {
			os.RemoveAll(b.work)
		}
	}()

	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr})
	defer rdb.Close()
	res := &results{Started: time.Now(), Params: paramsOf(o)}
	if res.Machine, err = describeMachine(ctx, rdb, o.goCmd); err != nil {
		return err
	}
	m := res.Machine
	fmt.Printf("machine: %s, %d cores, %s; Kafka %s, Redis %s; journey %s\n", m.CPU, m.Cores, m.Go, report.Dash(m.Kafka), m.Redis, report.Dash(m.Revision))
	if len(b.services) != 2 {
		fmt.Printf("note: found %d rig processes for %s and %s (want Kafka and Redis); their CPU may be missing\n", len(b.services),
			o.brokers[0], o.redisAddr)
	}
	if b.bin = o.bin; b.bin == "" {
		b.logf("build: go build ./cmd/journey...")
		if b.bin, err = buildJourney(ctx, o.goCmd, b.work); err != nil {
			return err
		}
	}
	for _, t := range []string{b.topic, b.dlq} {
		if err := b.cluster.create(ctx, t, o.partitions); err != nil {
			return err
		}
	}
	b.logf("produce: %d events of %d customers to %d partitions...", o.events, o.customers, o.partitions)
	if res.Produce, err = produceBulk(ctx, o.brokers, b.topic, o.seed, o.customers, o.events); err != nil {
		return err
	}
	b.logf("produce: %d events (%.0f MB) in %.1fs: %.0f events/s", o.events, float64(res.Produce.Bytes)/1e6, res.Produce.Seconds,
		res.Produce.Rate)

	if err := b.restorePhase(ctx, res); err != nil {
		keep = true
		return err
	}
	for _, n := range o.standbys {
		b.logf("failover, --standbys %d:", n)
		f, err := b.runFailover(ctx, n)
		if err != nil {
			keep = true
			return fmt.Errorf("failover with --standbys %d: %w", n, err)
		}
		res.Failovers = append(res.Failovers, f)
	}
	if o.forgetCustomers > 0 {
		if err := b.forgetPhase(ctx, rdb, res); err != nil {
			keep = true
			return fmt.Errorf("forget: %w", err)
		}
	}

	res.Seconds = time.Since(res.Started).Seconds()
	res.finish()
	fmt.Println()
	res.markdown(os.Stdout)
	if err := res.write(o.out); err != nil {
		return err
	}
	fmt.Printf("\nwritten: %s, %s\n", filepath.Join(o.out, "scale.json"), filepath.Join(o.out, "scale.md"))
	if len(res.Problems) > 0 {
		keep = true
		return fmt.Errorf("%d problems:\n  %s", len(res.Problems), strings.Join(res.Problems, "\n  "))
	}
	return nil
}

// restorePhase builds state with one `journey run`, then times restores
// against plain reads of its changelog.
func (b *bench) restorePhase(ctx context.Context, res *results) error {
	o := b.opts
	g, err := b.newGroup(ctx, "restore", b.topic)
	if err != nil {
		return err
	}
	_, ends, err := b.cluster.span(ctx, b.topic, o.partitions)
	if err != nil {
		return err
	}
	b.logf("journey run (1 instance, --standbys 0) over the topic...")
	start := time.Now()
	p, err := b.startRun(ctx, g, "build", 0)
	if err != nil {
		return err
	}
	defer p.kill()
	if err := b.waitCaughtUp(ctx, g, ends, []*proc{p}); err != nil {
		return err
	}
	bl := &res.Build
	bl.Group, bl.Changelog = g.name, g.changelog
	bl.Seconds = time.Since(start).Seconds()
	for _, e := range ends {
		bl.Events += e
	}
	bl.Rate = float64(bl.Events) / bl.Seconds
	m, err := p.metrics(ctx)
	if err != nil {
		return err
	}
	bl.Folded = int64(m.sum("journey_events_folded_total"))
	bl.DeadLetters = int64(m.sum("journey_dlq_total"))
	bl.ChangelogWritten = int64(m.sum("journey_changelog_records_total"))
	bl.Appends = int64(m.sum("journey_changelog_append_seconds_count"))
	if bl.Appends > 0 {
		bl.AppendMs = m.sum("journey_changelog_append_seconds_sum") / float64(bl.Appends) * 1000
	}
	if n := m.sum("journey_batch_commit_seconds_count"); n > 0 {
		bl.CommitMs = m.sum("journey_batch_commit_seconds_sum") / n * 1000
	}
	if err := p.stop(90 * time.Second); err != nil {
		return err
	}
	bl.Log = summariseLog(p.logPath)
	first, end, err := b.cluster.span(ctx, g.changelog, o.partitions)
	if err != nil {
		return err
	}
	for i := range first {
		bl.LogRecords += end[i] - first[i]
	}
	b.logf("journey run: %d events in %.1fs (start-up included): %.0f events/s; changelog %s: %d records (%.2f per event)",
		bl.Events, bl.Seconds, bl.Rate, g.changelog, bl.LogRecords, float64(bl.LogRecords)/float64(max(bl.Events, 1)))
	if bl.Log.Errors > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("journey run logged %d errors: %s", bl.Log.Errors, strings.Join(bl.Log.Samples, "; ")))
	}

	var restored string
	for i := 1; i <= o.runs; i++ {
		raw, err := readLog(ctx, b.cluster, g.changelog, o.partitions, b.services)
		if err != nil {
			return err
		}
		res.Raw = append(res.Raw, raw)
		b.logf("raw read #%d: %d records (%.0f MB) in %.2fs: %.0f records/s (cores this process / Kafka+Redis / other %s)",
			i, raw.Records, float64(raw.Bytes)/1e6, raw.Seconds, raw.Rate, raw.Cores)
		dir := filepath.Join(b.work, g.name, fmt.Sprintf("restored%d", i))
		r, err := b.restore(ctx, g, dir, "empty")
		if err != nil {
			return err
		}
		res.Restore = append(res.Restore, r)
		b.logf("restore #%d: %d records in %.2fs (process %.2fs): %.0f records/s, ÷ raw %.2f (cores %s)",
			i, r.Records, r.Seconds, r.Wall, r.Rate, r.Rate/raw.Rate, r.Cores)
		res.Problems = append(res.Problems, checkPositions(r, end)...)
		if i == 1 {
			restored = dir // kept for the diff
		} else {
			_ = os.RemoveAll(dir)
		}
	}
	if res.Same, res.Diff, err = b.diff(ctx, g, restored, p.stateDir); err != nil {
		return err
	}
	b.logf("journey state diff <restored> <original>: %s", firstLine(res.Diff))
	if !res.Same {
		res.Problems = append(res.Problems, "the restored state differs from the original: "+res.Diff)
	}
	if res.Tail, err = b.restore(ctx, g, p.stateDir, "original"); err != nil {
		return err
	}
	b.logf("restore into the original directory: %d records in %.2fs (process %.2fs)", res.Tail.Records, res.Tail.Seconds, res.Tail.Wall)
	res.Problems = append(res.Problems, checkPositions(res.Tail, end)...)
	return nil
}

// checkPositions reports the partitions a restore left short of (or past)
// the changelog's end.
func checkPositions(r restoreRun, end []int64) []string {
	var out []string
	seen := map[int]bool{}
	for _, pp := range r.Partitions {
		seen[pp.Partition] = true
		if pp.Partition < len(end) && pp.Position != end[pp.Partition] {
			out = append(out, fmt.Sprintf("restore into the %s directory: partition %d reached position %d, the changelog ends at %d",
				r.Into, pp.Partition, pp.Position, end[pp.Partition]))
		}
	}
	if len(seen) != len(end) {
		out = append(out, fmt.Sprintf("restore into the %s directory: %d partitions in its table, the changelog has %d", r.Into, len(seen), len(end)))
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
