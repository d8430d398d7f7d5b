// Command e2e measures journey end to end against a real Kafka broker and a
// real Redis (make bench starts both with the test rig and runs it):
//
//  1. it produces a reproducible Segment workload (by default 1,000,000
//     events of 100,000 customers, 8 partitions) and reports the rate;
//  2. it reads the whole topic with a plain kafka-go consumer group (one
//     goroutine and kafka.Reader per partition, journey's fetch settings,
//     encoding/json into a map) — the baseline;
//  3. it runs journey in-process, wired as `journey run` wires it, over the
//     same topic with a fresh group, until every record is committed to
//     Pebble and every trigger and context update is in Redis;
//  4. it alternates the two (raw, journey, raw, journey...) and reports the
//     ratio of the best rates;
//  5. with the last journey still running, it produces a paced stream and
//     reports the exact event-to-Redis latency of every trigger and context
//     update;
//  6. with -api-rps, it does that again under an open-loop load on the
//     read-side API (api.go) and times the web page in headless Chromium
//     (page.go).
//
// It reports figures and never judges them: it fails only when the work is
// wrong (a record not processed, a trigger missing from Redis, a count that
// differs), or too small to stand for it: a journey run or the latency
// phase that delivered no triggers, or fewer than -min-trigger-share of its
// events (the report is written, marked INVALID, and it exits 1). Results
// go to stdout and to <out>/<name>.json and <name>.md.
//
// The workload's event times are the wall clock's, in a time zone chosen
// so that the customers' local time is the afternoon whatever the hour of
// the run (workloadClock says why, and why not a fixed date).
//
// Usage (the rig exports KAFKA_BROKERS and REDIS_ADDR):
//
//	go run ./bench/e2e [-events 1000000] [-customers 100000] [-runs 2] [-cpuprofile file]
//	go run ./bench/e2e -processors interest -runs 3 -name pipeline-only  # the core pipeline alone
//	go run ./bench/e2e -api-rps 500 -set 'processors: {timeline: {enabled: true}}' -name api  # with the read-side API
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/bench/internal/report"
	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/processors"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

func run() error {
	var (
		brokers    = flag.String("brokers", envOr("KAFKA_BROKERS", "JOURNEY_TEST_KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated [$KAFKA_BROKERS]")
		redisAddr  = flag.String("redis", envOr("REDIS_ADDR", "JOURNEY_TEST_REDIS_ADDR"), "Redis host:port [$REDIS_ADDR]")
		events     = flag.Int("events", 1_000_000, "events to produce")
		customers  = flag.Int("customers", 100_000, "customers (each has at least one event)")
		partitions = flag.Int("partitions", 8, "partitions of the input topic")
		seed       = flag.Uint64("seed", 1, "workload seed")
		runs       = flag.Int("runs", 2, "raw/journey pairs, run alternately")
		rate       = flag.Int("rate", 5000, "events/s of the latency phase")
		latDur     = flag.Duration("latency-duration", 20*time.Second, "length of the latency phase")
		out        = flag.String("out", "bench/results", "folder for the results, <name>.json and <name>.md")
		name       = flag.String("name", "latest", "base name of the result files in -out")
		cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of the last journey run (throughput phase only) to this file, and allocation profiles at its start and end to FILE.allocs0 and FILE.allocs (go tool pprof -diff_base)")
		liveProf   = flag.String("cpuprofile-live", "", "write a CPU profile of the latency phase (journey live, plus the paced producer) to this file")
		replayProf = flag.String("cpuprofile-replay", "", "write a CPU profile of the replay phase to this file")
		timeout    = flag.Duration("timeout", 14*time.Minute, "give up after this long")
		changelog  = flag.Bool("changelog", true, "log every round to the changelog topic, as journey run does by default")
		procList   = flag.String("processors", "", "comma-separated processors to run (default: all), e.g. profile,interest for pipeline-only figures")
		maxRecords = flag.Int("max-records", 0, "batch.max_records of journey (default: config.Default's)")
		compare    = flag.String("compare", "", "results file (.json) of another run of this workload to show beside this one, e.g. bench/results/identity-off.json")
		anonymous  = flag.Float64("anonymous", anonymousShare, "share of customers whose first events are anonymous (anonymousId only, keyed by it) until they identify")
		minTrig    = flag.Float64("min-trigger-share", minTriggerShare, "fail (exit 1, report marked) when a journey run or the latency phase delivers no triggers or fewer than this share of its events")
		apiRPS     = flag.Int("api-rps", 0, "after the latency phase, run it again with this many GET /v1/customers/{id} requests/s on random customers (open loop) and compare; then time the web page (-page-loads); 0: no API phase")
		pageLoads  = flag.Int("page-loads", 10, "with -api-rps: loads of the web page of a customer with a full timeline in headless Chromium (0: none; needs the timeline processor on)")
		apiProf    = flag.String("cpuprofile-api", "", "write a CPU profile of the API phase (journey live, the API and its load) to this file")
		set        = flag.String("set", "", "YAML read over journey's default config, as journey run reads --config, e.g. 'state: {sync: false}'")
		beside     = flag.String("beside", "", "YAML read over -set for a second journey run in each throughput pair, just before this configuration's (its cost measured back to back, on the same machine state), e.g. 'identity: {enabled: false}'")
	)
	flag.Parse()
	anonymousShare = *anonymous
	changelogEnabled = *changelog
	batchRecords = *maxRecords
	overlay = *set
	besideOverlay = *beside
	if *procList != "" {
		enabledProcessors = strings.Split(*procList, ",")
	}
	if *brokers == "" || *redisAddr == "" {
		return errors.New("no Kafka or Redis: run `make bench` (which starts both), or pass -brokers and -redis")
	}
	if *events < *customers || *customers < 1 || *runs < 1 || *partitions < 1 {
		return errors.New("need events >= customers >= 1, runs >= 1, partitions >= 1")
	}
	bs := strings.Split(*brokers, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	def, err := benchConfig()
	if err != nil {
		return err
	}
	if besideOverlay != "" {
		besideActive = true
		_, err := benchConfig()
		besideActive = false
		if err != nil {
			return err
		}
	}
	// journey's garbage-collector settings for the whole process, from the
	// start: a journey instance sets them process-wide, so every run, the
	// raw consumer's first included, runs with the same settings.
	app.TuneRuntime(def, os.Getenv)
	res := &results{
		Issue: title(enabledProcessors), Started: time.Now(), Machine: describeMachine(),
		Params: params{
			Events: *events, Customers: *customers, Partitions: *partitions, Seed: *seed, Runs: *runs,
			LatencyRate: *rate, LatencySecs: latDur.Seconds(), StateSync: def.StateSync(), Overlay: overlay, MaxBatch: def.Batch.MaxRecords, MaxBatchBytes: def.Batch.MaxBytes, BacklogWait: def.Batch.BacklogWait.String(),
			FetchMaxBytes: def.Kafka.FetchMaxBytes, FetchMaxWait: def.Kafka.FetchMaxWait.String(), CPUProfile: *cpuProfile,
			Beside: besideOverlay,
		},
	}
	for _, spec := range processors.All() {
		if enabledProcessors == nil || slices.Contains(enabledProcessors, spec.Name) {
			res.Params.Processors = append(res.Params.Processors, spec.Name)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer rdb.Close()
	if info, err := rdb.InfoMap(ctx, "server").Result(); err == nil {
		res.Machine.RedisVersion = info["Server"]["redis_version"]
	} else {
		return fmt.Errorf("redis %s: %w", *redisAddr, err)
	}
	var ports []int
	for _, addr := range append(slices.Clone(bs), *redisAddr) {
		if _, port, err := net.SplitHostPort(addr); err == nil {
			if n, err := strconv.Atoi(port); err == nil {
				ports = append(ports, n)
			}
		}
	}
	servicePIDs = listeners(ports...)
	if len(servicePIDs) != 2 {
		fmt.Printf("note: found %d processes listening on the Kafka and Redis ports; their CPU use may be missing\n", len(servicePIDs))
	}
	m := res.Machine
	fmt.Printf("machine: %s, %d cores, %s (CGO_ENABLED=%s); Kafka %s, Redis %s\n", m.CPU, m.Cores, m.GoVersion, m.CGO,
		report.Dash(m.KafkaVersion), m.RedisVersion)

	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	topic, dlq := "bench.events."+stamp, "bench.dlq."+stamp
	for _, t := range []string{topic, dlq} {
		if err := createTopic(ctx, bs, t, *partitions); err != nil {
			return err
		}
	}

	from, to, zone := workloadClock(time.Now())
	loc, err := time.LoadLocation(zone) // journey ignores a zone that does not load: its quiet hours would move
	if err != nil {
		return fmt.Errorf("the workload's time zone: %w", err)
	}
	fmt.Printf("produce: %d events, %d customers, %d partitions; event times %s to %s UTC in %s (%s to %s local)...\n",
		*events, *customers, *partitions, from.UTC().Format("15:04"), to.UTC().Format("15:04"), zone,
		from.In(loc).Format("15:04"), to.In(loc).Format("15:04"))
	pr, err := produce(ctx, bs, topic, *seed, *events, *customers, *partitions, zone, from, to)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	res.Produce = pr
	fmt.Printf("produce: %d events (%.0f MB) in %.2fs: %.0f events/s, %.1f MB/s\n", pr.Events, float64(pr.Bytes)/1e6, pr.Seconds,
		pr.PerSecond, pr.MBPerSec)
	ends, err := endOffsets(ctx, bs, topic, *partitions)
	if err != nil {
		return err
	}

	ph := &phases{
		brokers: bs, redisAddr: *redisAddr, topic: topic, dlq: dlq, stamp: stamp, partitions: *partitions,
		customers: *customers, runs: *runs, rate: *rate, seed: *seed, latDur: *latDur, zone: zone,
		cpuProfile: *cpuProfile, liveProf: *liveProf, replayProf: *replayProf, apiProf: *apiProf,
	}
	live, err := ph.throughput(ctx, ends, res)
	defer func() {
		if live != nil {
			_ = live.stop()
		}
	}()
	if err != nil {
		return err
	}
	var apiBase string
	if *apiRPS > 0 {
		// Serving, idle, during the latency phase without API load too.
		if apiBase, err = live.serveAPI(); err != nil {
			return err
		}
	}
	err = ph.latency(ctx, live, res)
	if err == nil && *apiRPS > 0 {
		err = ph.apiPhase(ctx, live, apiBase, *apiRPS, res)
		if err == nil && *pageLoads > 0 {
			err = ph.pagePhase(ctx, live, apiBase, *pageLoads, res)
		}
	}
	stopErr := live.stop()
	live = nil
	if err != nil {
		return err
	}
	if stopErr != nil {
		return fmt.Errorf("journey shutdown: %w", stopErr)
	}
	if err := ph.replay(ctx, res); err != nil {
		return err
	}
	res.Seconds = time.Since(res.Started).Seconds()
	res.Notes = notes(res)
	if *compare != "" {
		if res.Compare, err = loadCompared(*compare); err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
	}
	res.Invalid = tooFewTriggers(res, *minTrig)
	fmt.Println()
	res.markdown(os.Stdout)
	if err := res.write(*out, *name); err != nil {
		return err
	}
	fmt.Printf("\nwritten: %s/%s.json, %s/%s.md\n", *out, *name, *out, *name)
	if len(res.Invalid) > 0 {
		return fmt.Errorf("INVALID RUN, too few triggers: %s", strings.Join(res.Invalid, "; "))
	}
	return nil
}

// phases are the measurements run makes over the workload topic, in
// order: throughput, latency, replay.
type phases struct {
	brokers                          []string
	redisAddr, topic, dlq, stamp     string
	partitions, customers, runs      int
	rate                             int
	seed                             uint64
	zone                             string // of every event (workloadClock)
	latDur                           time.Duration
	cpuProfile, liveProf, replayProf string
	apiProf                          string
}

// throughput runs the raw consumer and journey alternately over the
// topic, runs times each, into res. It returns the last journey instance
// still running, caught up, for the latency phase (also with an error,
// when one was started).
func (ph *phases) throughput(ctx context.Context, ends map[int]int64, res *results) (*instance, error) {
	rawGroup := func(i int) string { return fmt.Sprintf("bench-raw-%s-%d", ph.stamp, i) }
	journeyGroup := func(i int) string { return fmt.Sprintf("bench-journey-%s-%d", ph.stamp, i) }
	besideGroup := func(i int) string { return fmt.Sprintf("bench-beside-%s-%d", ph.stamp, i) }
	var groups []string
	for i := 1; i <= ph.runs; i++ {
		groups = append(groups, rawGroup(i), journeyGroup(i))
		if besideOverlay != "" {
			groups = append(groups, besideGroup(i))
		}
	}
	if err := waitCoordinators(ctx, ph.brokers, groups); err != nil {
		return nil, err
	}

	noProfile := func() func() { return func() {} }
	var live *instance
	for i := 1; i <= ph.runs; i++ {
		raw, err := runRaw(ctx, ph.brokers, ph.topic, rawGroup(i), ends)
		if err != nil {
			return live, err
		}
		res.Raw = append(res.Raw, raw)
		fmt.Printf("raw #%d: %d records in %.2fs: %.0f events/s (start-up %.2fs; cores this process / Kafka+Redis / other %s)\n",
			i, raw.Events, raw.Seconds, raw.Rate, raw.Startup, raw.CPU)

		if besideOverlay != "" {
			besideActive = true
			br, in, err := runJourney(ctx, ph.brokers, ph.redisAddr, ph.topic, ph.dlq, besideGroup(i),
				fmt.Sprintf("bench%s.b%d:", ph.stamp, i), ends, ph.customers, noProfile, false)
			besideActive = false
			if in != nil {
				_ = in.stop()
			}
			if err != nil {
				return live, fmt.Errorf("-beside run: %w", err)
			}
			res.Beside = append(res.Beside, br)
			fmt.Printf("journey beside (%s) #%d: %.2fs: %.0f events/s (cores this process / Kafka+Redis / other %s)\n",
				besideOverlay, i, br.Seconds, br.Rate, br.CPU)
		}

		last := i == ph.runs
		profile := noProfile
		if last && ph.cpuProfile != "" {
			profile = func() func() { return startProfile(ph.cpuProfile) }
		}
		jr, in, err := runJourney(ctx, ph.brokers, ph.redisAddr, ph.topic, ph.dlq, journeyGroup(i),
			fmt.Sprintf("bench%s.%d:", ph.stamp, i), ends, ph.customers, profile, last)
		if err != nil {
			return live, err
		}
		live = in
		res.Journey = append(res.Journey, jr)
		fmt.Printf("journey #%d: %d records committed and delivered in %.2fs: %.0f events/s (start-up %.2fs; %d triggers, "+
			"%d context updates; mean batch %.0f, commit %.2fms; cores this process / Kafka+Redis / other %s)\n",
			i, jr.Events, jr.Seconds, jr.Rate, jr.Startup, jr.Triggers, jr.Contexts, jr.MeanBatch, jr.MeanCommitMs, jr.CPU)
		res.Pairs = append(res.Pairs, jr.Rate/raw.Rate)
		if besideOverlay != "" {
			res.BesidePairs = append(res.BesidePairs, jr.Rate/res.Beside[i-1].Rate)
		}
	}
	for _, r := range res.Raw {
		res.RawBest = max(res.RawBest, r.Rate)
	}
	for _, r := range res.Journey {
		res.JourBest = max(res.JourBest, r.Rate)
	}
	res.Ratio = res.JourBest / res.RawBest
	for _, r := range res.Beside {
		res.BesideBest = max(res.BesideBest, r.Rate)
	}
	if res.BesideBest > 0 {
		fmt.Printf(">>> journey ÷ journey beside (%s) = %.2f (best %.0f ÷ best %.0f events/s; pairs %s)\n",
			besideOverlay, res.JourBest/res.BesideBest, res.JourBest, res.BesideBest, report.Ratios(res.BesidePairs))
	}
	fmt.Printf("\n>>> journey ÷ raw = %.2f (best %.0f ÷ best %.0f events/s; pairs %s; target >= %.1f)\n\n",
		res.Ratio, res.JourBest, res.RawBest, report.Ratios(res.Pairs), targetRatio)
	return live, nil
}

// latency measures the baseline (a raw consumer of a paced producer), then
// journey's event-to-Redis latency with live, into res.
func (ph *phases) latency(ctx context.Context, live *instance, res *results) error {
	fmt.Printf("latency baseline: %d events/s for %s into a topic of its own, read by a raw kafka-go consumer...\n", ph.rate, ph.latDur)
	floor, err := runFloor(ctx, ph.brokers, ph.topic+"-floor", ph.partitions, ph.seed, ph.customers, ph.rate, ph.latDur, ph.zone)
	if err != nil {
		return fmt.Errorf("latency baseline: %w", err)
	}
	res.Floor = floor
	fmt.Printf("latency baseline: %d samples; Kafka append -> decoded p50 %.1fms p99 %.1fms\n", floor.Samples, floor.Redis.P50, floor.Redis.P99)

	fmt.Printf("latency: %d events/s for %s with journey caught up...\n", ph.rate, ph.latDur)
	stopLive := func() {}
	if ph.liveProf != "" {
		stopLive = startProfile(ph.liveProf)
	}
	lat, err := runLatency(ctx, ph.brokers, ph.topic, ph.partitions, live, ph.seed, "live-", ph.customers, ph.rate, ph.latDur, ph.zone)
	stopLive()
	if err != nil {
		return err
	}
	res.Latency = lat
	fmt.Printf("latency: %d samples (and %d deliveries of timers fired by the wall clock); event -> Redis p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms (producer ack p99 %.1fms)\n",
		lat.Samples, lat.Unsampled, lat.Redis.P50, lat.Redis.P90, lat.Redis.P99, lat.Redis.Max, lat.ProduceAck.P99)
	return nil
}

// replay times journey replay over the whole topic, into res.
func (ph *phases) replay(ctx context.Context, res *results) error {
	fmt.Printf("replay: journey replay --from earliest --triggers off over the same topic...\n")
	ends, err := endOffsets(ctx, ph.brokers, ph.topic, ph.partitions)
	if err != nil {
		return err
	}
	stopReplay := func() {}
	if ph.replayProf != "" {
		stopReplay = startProfile(ph.replayProf)
	}
	rp, err := runReplay(ctx, ph.brokers, ph.topic, ph.dlq, ends)
	stopReplay()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	res.Replay, res.ReplayRatio = rp, rp.Rate/res.RawBest
	fmt.Printf("replay: %d records in %.2fs: %.0f events/s; ÷ raw = %.2f (target >= %.1f; cores this process / Kafka+Redis / other %s)\n",
		rp.Events, rp.Seconds, rp.Rate, res.ReplayRatio, targetReplayRatio, rp.CPU)
	return nil
}

// startProfile starts the CPU profile and returns the function that stops
// it.
func startProfile(path string) func() {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench: cpuprofile:", err)
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: cpuprofile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bench: cpuprofile:", err)
		_ = f.Close()
		return func() {}
	}
	// Allocations too: the profile at the start and at the end, for
	// go tool pprof -diff_base <path>.allocs0 <path>.allocs.
	writeAllocs := func(p string) {
		if af, err := os.Create(p); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(af, 0)
			_ = af.Close()
		}
	}
	writeAllocs(path + ".allocs0")
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			pprof.StopCPUProfile()
			_ = f.Close()
			writeAllocs(path + ".allocs")
		}
	}
}

// createTopic creates a topic and waits until every partition has a leader.
func createTopic(ctx context.Context, brokers []string, topic string, partitions int) error {
	d := &kafka.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return err
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	// The broker stamps each record as it appends it: the latency phase
	// measures from there.
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "message.timestamp.type", ConfigValue: "LogAppendTime"}}}); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ps, err := conn.ReadPartitions(topic)
		ready := err == nil && len(ps) == partitions
		for _, p := range ps {
			ready = ready && p.Leader.Host != ""
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s: partitions without a leader after 30s (%v)", topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitCoordinators waits until the broker names a coordinator for every
// group: on a fresh broker the first group request creates the offsets
// topic, which no timed run should wait for.
func waitCoordinators(ctx context.Context, brokers []string, groups []string) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for _, g := range groups {
		for {
			resp, err := c.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: g, KeyType: kafka.CoordinatorKeyTypeConsumer})
			if err == nil {
				err = resp.Error
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no group coordinator for %s after 60s: %w", g, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// endOffsets returns each partition's next offset (high watermark).
func endOffsets(ctx context.Context, brokers []string, topic string, partitions int) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	if len(ends) != partitions {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions", topic, len(ends), partitions)
	}
	return ends, nil
}
