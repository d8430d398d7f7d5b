// Command journey runs journey's pipeline as its own process for the peer
// benchmark (bench/peers), wired as `journey run` wires it
// (cmd/journey/run.go): the YAML configuration and the same flags over
// config.Default, internal/app's wiring (engine, decoder, store options,
// Redis sink, pipeline configuration, TuneRuntime). Two differences: only
// the processors named by -processors are built (`journey run` always runs
// them all), and there is no admin server; instead it prints progress marks
// (bench/peers/progress) and, on SIGTERM, after the pipeline has stopped,
// dumps the sample customers' states (bench/peers/workload.Snapshot) and a
// line of counters.
//
// A mark n is printed once n records are committed to Pebble (the sum of
// the stored input offsets) and every outbox is empty (every trigger is in
// Redis) — what journey calls processed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/journey-dev/journey/bench/internal/promsum"
	"github.com/journey-dev/journey/bench/peers/progress"
	"github.com/journey-dev/journey/bench/peers/workload"
	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/profile"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "journey:", err)
		os.Exit(1)
	}
}

type options struct {
	procs      []string
	marks      []int64
	partitions int
	sample     string
	dump       string
	cpuProfile string
	profileTo  int64
}

func run(args []string) error {
	fs := flag.NewFlagSet("journey", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration file")
	apply := config.Flags(fs)
	marks := fs.String("marks", "", "progress marks: records processed, comma-separated")
	partitions := fs.Int("partitions", 8, "partitions of the input topics (where the progress is read)")
	sample := fs.String("sample", "", "file of customer ids (one a line) whose state to dump on SIGTERM")
	dump := fs.String("dump", "", "file to write the sample's states to (JSON lines)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile from the first record to mark -cpuprofile-mark, and a heap profile (in use) halfway to it to FILE.heap")
	profileTo := fs.Int64("cpuprofile-mark", 0, "the mark that ends the CPU profile (default: the last)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config.Default()
	if err := cfg.Load(*path); err != nil {
		return err
	}
	if err := apply(&cfg, os.Getenv); err != nil {
		return err
	}
	if err := app.Validate(cfg); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	// -processors is config.Flags' (processors_enabled); the benchmark's
	// fold needs profile and interest, so those unless it says otherwise.
	procs := cfg.ProcessorsEnabled
	if len(procs) == 0 {
		procs = []string{"profile", "interest"}
	}
	o := options{procs: procs, partitions: *partitions, sample: *sample, dump: *dump,
		cpuProfile: *cpuProfile, profileTo: *profileTo}
	var err error
	if o.marks, err = progress.ParseMarks(*marks); err != nil {
		return err
	}
	if o.profileTo == 0 && len(o.marks) > 0 {
		o.profileTo = o.marks[len(o.marks)-1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, o)
}

// serve follows serve() in cmd/journey/run.go.
func serve(ctx context.Context, cfg config.Config, o options) error {
	app.TuneRuntime(cfg, os.Getenv)
	level, err := zapcore.ParseLevel(cfg.Log.Level)
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(os.Stderr), level))
	defer func() { _ = log.Sync() }()
	cfg.ProcessorsEnabled = o.procs
	engine, err := app.Engine(cfg)
	if err != nil {
		return err
	}
	dec, err := app.Decoder(cfg)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(app.RedisOptions(cfg))
	defer rdb.Close()
	snk, err := redissink.New(rdb, app.SinkConfig(cfg))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	store, err := state.Open(cfg.State.Dir, app.StoreOptions(cfg, log.Named("pebble")))
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := pipeline.New(app.PipelineConfig(cfg), log, store, dec, engine, snk, m)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	watchErr := make(chan error, 1)
	go func() { watchErr <- watch(runCtx, reg, store, cfg.Kafka.Topics, o) }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		if err := <-watchErr; err != nil {
			return err
		}
	case err := <-watchErr:
		// The marks stop with it (an unwritable -cpuprofile, a store
		// read): fail now, not at the bench's timeout.
		if err != nil {
			cancel()
			<-done
			return fmt.Errorf("progress: %w", err)
		}
		if err := <-done; err != nil {
			return err
		}
	}
	if err := dumpSample(store, engine, o); err != nil {
		return err
	}
	return printStats(reg)
}

// watch prints the marks as they are reached, and runs the CPU profile.
func watch(ctx context.Context, reg *prometheus.Registry, store *state.Store, topics []string, o options) error {
	counter := progress.NewCounter(o.marks, os.Stdout)
	for { // until the first record is read
		if n, err := promsum.Sum(reg, "journey_records_in_total"); err != nil {
			return err
		} else if n > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Millisecond):
		}
	}
	counter.Reached(1)
	stopProfile := func() {}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			_ = f.Close()
			stopProfile = func() {}
		}
	}
	defer func() { stopProfile() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	heapDone := false
	for !counter.Done() {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var sum int64
		empty := true
		for id := range o.partitions {
			sp, err := store.Partition(id)
			if err != nil {
				return err
			}
			offs, err := sp.Offsets()
			if err != nil {
				return err
			}
			for _, t := range topics {
				sum += offs[t]
			}
			empty = empty && sp.OutboxDepth() == 0
		}
		if o.cpuProfile != "" && o.profileTo > 0 && !heapDone && sum >= o.profileTo/2 {
			heapDone = true
			if f, err := os.Create(o.cpuProfile + ".heap"); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				_ = f.Close()
			}
		}
		if empty {
			counter.Reached(sum)
			if sum >= o.profileTo {
				stopProfile()
			}
		}
	}
	return nil
}

// dumpSample writes the states of the sample's customers.
func dumpSample(store *state.Store, engine *journey.Engine, o options) error {
	if o.sample == "" || o.dump == "" {
		return nil
	}
	ids, err := readLines(o.sample)
	if err != nil {
		return err
	}
	versions := engine.Versions()
	f, err := os.Create(o.dump)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, id := range ids {
		var ps *profile.State
		var is *interest.State
		for part := range o.partitions {
			sp, err := store.Partition(part)
			if err != nil {
				return err
			}
			sts, err := sp.States(id)
			if err != nil {
				return err
			}
			if s, ok := sts[profile.Name]; ok {
				if s.Version != versions[profile.Name] {
					return fmt.Errorf("%s: profile state version %d", id, s.Version)
				}
				ps = new(profile.State)
				if err := ps.UnmarshalBinary(s.Data); err != nil {
					return fmt.Errorf("%s: profile state: %w", id, err)
				}
			}
			if s, ok := sts[interest.Name]; ok {
				if s.Version != versions[interest.Name] {
					return fmt.Errorf("%s: interest state version %d", id, s.Version)
				}
				is = new(interest.State)
				if err := is.UnmarshalBinary(s.Data); err != nil {
					return fmt.Errorf("%s: interest state: %w", id, err)
				}
			}
		}
		if err := enc.Encode(workload.JourneySnapshot(id, ps, is)); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// printStats prints the pipeline's counters as one line: stats {json}.
func printStats(reg *prometheus.Registry) error {
	stats := map[string]float64{}
	for _, name := range []string{"journey_records_in_total", "journey_events_folded_total", "journey_events_duplicate_total",
		"journey_dlq_total", "journey_sink_errors_total", "journey_triggers_emitted_total", "journey_batch_records_count",
		"journey_batch_records_sum", "journey_batch_commit_seconds_sum"} {
		v, err := promsum.Sum(reg, name)
		if err != nil {
			return err
		}
		stats[strings.TrimPrefix(name, "journey_")] = v
	}
	b, err := json.Marshal(stats)
	if err != nil {
		return err
	}
	fmt.Printf("stats %s\n", b)
	return nil
}
