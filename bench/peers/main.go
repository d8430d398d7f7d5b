// Command peers runs journey and its peers side by side on one real Kafka
// broker over the same workload, one after the other, each as its own
// process (make bench-peers starts the broker and Redis with the rig and
// builds the binaries):
//
//   - raw: a kafka-go consumer group decoding every record's JSON (the
//     ceiling for any processor on this client; no state, no output);
//   - journey: journey's pipeline with a fixed configuration
//     (bench/peers/journey.yaml), triggers to Redis;
//   - goka: the fold as a Goka processor (LevelDB, group table topic),
//     triggers to a topic;
//   - kstreams: the fold as a Kafka Streams application (RocksDB,
//     changelog topic), triggers to a topic.
//
// It produces a reproducible Segment workload (bench/peers/workload) to
// one topic of 8 partitions and folds it with the reference fold as it
// goes. Each implementation then reads the topic from the start (events/s
// from its first record to its last, its CPU seconds per million events
// from /proc/<pid>/stat, its peak RSS from VmHWM), and, but for the raw
// consumer, a live stream at a fixed rate on a topic of its own
// (event-to-output latency); finally its triggers and the state of a
// sample of customers are checked against the reference fold: a
// difference fails the run. Results: stdout and <out>/peers.{json,md}.
//
// Usage (the rig exports KAFKA_BROKERS and REDIS_ADDR):
//
//	peers [-events 2000000] [-customers 200000] [-impls raw,journey,goka,kstreams] [-cpuprofile file]
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

	"github.com/journey-dev/journey/bench/peers/workload"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/interest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

type options struct {
	brokers       []string
	redisAddr     string
	events        int
	customers     int
	partitions    int
	seed          uint64
	threshold     int
	target        string // the channel of journey's interest triggers
	rate          int
	latencyDur    time.Duration
	sample        int
	impls         []string
	bin           string
	journeyConfig string
	java          string
	javaOpts      []string
	kstreamsCP    string
	kstreamsThr   int
	kstreamsProps string
	cpuProfile    string
	rigDir        string
	out           string
	keep          bool
	runTimeout    time.Duration
}

var allImpls = []string{"raw", "journey", "goka", "kstreams"}

func run() error {
	var o options
	brokers := flag.String("brokers", os.Getenv("KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated [$KAFKA_BROKERS]")
	flag.StringVar(&o.redisAddr, "redis", os.Getenv("REDIS_ADDR"), "Redis host:port [$REDIS_ADDR]")
	flag.IntVar(&o.events, "events", 2_000_000, "events in the bulk topic")
	flag.IntVar(&o.customers, "customers", 200_000, "customers (each has at least one event)")
	flag.IntVar(&o.partitions, "partitions", 8, "partitions of every topic")
	flag.Uint64Var(&o.seed, "seed", 1, "workload seed")
	flag.IntVar(&o.rate, "rate", 5000, "events/s of the live stream (latency)")
	flag.DurationVar(&o.latencyDur, "latency-duration", 20*time.Second, "length of the live stream")
	flag.IntVar(&o.sample, "sample", 2000, "customers whose final state is compared")
	impls := flag.String("impls", strings.Join(allImpls, ","), "implementations to run, in this order")
	flag.StringVar(&o.bin, "bin", "bin/peers", "folder of the raw, journey and goka binaries")
	flag.StringVar(&o.journeyConfig, "journey-config", "bench/peers/journey.yaml", "journey's configuration")
	flag.StringVar(&o.java, "java", "java", "the java command")
	javaOpts := flag.String("java-opts", "-Xms1g -Xmx1g", "JVM options of the Kafka Streams peer, space-separated")
	flag.StringVar(&o.kstreamsCP, "kstreams-cp", "bench/peers/kstreams/target/kstreams-peer.jar:bench/peers/kstreams/target/lib/*",
		"class path of the Kafka Streams peer")
	flag.IntVar(&o.kstreamsThr, "kstreams-threads", 2, "num.stream.threads of the Kafka Streams peer")
	flag.StringVar(&o.kstreamsProps, "kstreams-props", "", "more StreamsConfig of the Kafka Streams peer: name=value,...")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of journey's bulk run to this file, and a heap profile halfway through it to FILE.heap")
	flag.StringVar(&o.rigDir, "rig-dir", ".rig/peers", "the rig's folder (its Kafka and Redis CPU is reported apart)")
	flag.StringVar(&o.out, "out", "bench/results", "folder for peers.json and peers.md")
	flag.BoolVar(&o.keep, "keep", false, "keep the state folders, dumps and logs (printed at the end)")
	flag.DurationVar(&o.runTimeout, "run-timeout", 10*time.Minute, "longest one implementation may take over the bulk topic")
	timeout := flag.Duration("timeout", 18*time.Minute, "give up after this long")
	flag.Parse()
	if *brokers == "" || o.redisAddr == "" {
		return errors.New("no Kafka or Redis: run `make bench-peers` (which starts both), or pass -brokers and -redis")
	}
	o.brokers = strings.Split(*brokers, ",")
	o.impls = strings.Split(*impls, ",")
	for _, name := range o.impls {
		if !slices.Contains(allImpls, name) {
			return fmt.Errorf("-impls: unknown %q (known: %s)", name, strings.Join(allImpls, ", "))
		}
	}
	o.javaOpts = strings.Fields(*javaOpts)
	if o.events < o.customers || o.customers < 1 || o.partitions < 1 || o.rate < 1 {
		return errors.New("need events >= customers >= 1, partitions >= 1, rate >= 1")
	}
	// journey's configuration gives the threshold and the Redis prefix: the
	// peers and the reference fold use the same.
	cfg := config.Default()
	if err := cfg.Load(o.journeyConfig); err != nil {
		return err
	}
	procs, err := processors.Build(cfg.Processors, []string{interest.Name})
	if err != nil {
		return err
	}
	ic := procs[0].(*interest.Processor).Config()
	if ic.HalfLife != 0 || ic.Window < 30*24*time.Hour {
		return fmt.Errorf("%s: interest needs half_life 0s and a window longer than the workload for the fold to be the same", o.journeyConfig)
	}
	o.threshold, o.target = ic.Threshold, ic.Target

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr})
	defer rdb.Close()
	rep := &report{Started: time.Now(), Machine: describeMachine(ctx, rdb, o), Params: paramsOf(o)}
	servicePIDs = findServices(o.rigDir)
	m := rep.Machine
	fmt.Printf("machine: %s, %d cores, %s, Java %s; Kafka %s, Redis %s\n", m.CPU, m.Cores, m.Go, m.Java, m.Kafka, m.Redis)
	if len(servicePIDs) != 2 {
		fmt.Printf("note: found %d rig processes under %s (want Kafka and Redis); their CPU may be missing\n", len(servicePIDs), o.rigDir)
	}

	b := &bench{opts: o, broker: newBroker(o.brokers), rdb: rdb, stamp: strconv.FormatInt(time.Now().Unix(), 10),
		wantTriggers: map[string]bool{}, journeyIDs: map[string]string{}, want: map[string]workload.Snapshot{}}
	if b.work, err = os.MkdirTemp("", "bench-peers-"); err != nil {
		return err
	}
	keep := o.keep
	defer func() {
		switch {
		case !keep:
			os.RemoveAll(b.work)
		case !o.keep: // kept for a failure: the logs and dumps, not the (large) state
			states, _ := filepath.Glob(filepath.Join(b.work, "*", "state"))
			for _, s := range states {
				os.RemoveAll(s)
			}
			fmt.Printf("logs kept: %s\n", b.work)
		default:
			fmt.Printf("kept: %s\n", b.work)
		}
	}()
	if err := b.prepare(ctx, rep); err != nil {
		return err
	}
	var failed []string
	for _, name := range o.impls {
		fmt.Printf("%s...\n", name)
		res, err := b.run(ctx, implByName(name))
		if err != nil {
			keep = true // the logs
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(res.Mismatches) > 0 {
			failed = append(failed, name)
			fmt.Printf("  %s DID NOT DO THE SAME WORK:\n    %s\n", name, strings.Join(res.Mismatches, "\n    "))
		} else if res.Latency != nil {
			fmt.Printf("  %s: %d triggers and %d sample customers as the reference fold\n", name, res.Triggers, res.SampleSize)
		}
		rep.Results = append(rep.Results, res)
	}
	if o.cpuProfile != "" && slices.Contains(o.impls, "journey") {
		rep.ProfileTop = profileTop(filepath.Join(o.bin, "journey"), o.cpuProfile)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.finish()
	fmt.Println()
	rep.markdown(os.Stdout)
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Printf("\nwritten: %s, %s\n", filepath.Join(o.out, "peers.json"), filepath.Join(o.out, "peers.md"))
	if len(failed) > 0 {
		keep = true
		return fmt.Errorf("%s did not end with the reference fold's triggers and state", strings.Join(failed, ", "))
	}
	return nil
}

// prepare creates the shared topics, produces the bulk topic, generates the
// live stream and computes what the reference fold expects.
func (b *bench) prepare(ctx context.Context, rep *report) error {
	o := b.opts
	b.bulkTopic, b.dlqTopic = "peers.events."+b.stamp, "peers.dlq."+b.stamp
	if err := b.broker.createTopic(ctx, b.bulkTopic, o.partitions, appendTime); err != nil {
		return err
	}
	if err := b.broker.createTopic(ctx, b.dlqTopic, o.partitions); err != nil {
		return err
	}
	// Every implementation's topics, now: a topic created just before a
	// client reads it can answer "not leader" for a while.
	for _, name := range o.impls {
		if err := b.broker.createTopic(ctx, b.liveTopic(name), o.partitions, appendTime); err != nil {
			return err
		}
		if implByName(name).sink == "kafka" {
			if err := b.broker.createTopic(ctx, b.triggerTopic(name), o.partitions, appendTime); err != nil {
				return err
			}
		}
		if name == "goka" { // its group table, as Goka would create it
			if err := b.broker.createTopic(ctx, b.group(name)+"-table", o.partitions, compacted); err != nil {
				return err
			}
		}
	}
	var groups []string
	for _, name := range o.impls {
		groups = append(groups, b.group(name))
	}
	if err := b.broker.waitCoordinators(ctx, groups); err != nil {
		return err
	}
	model := workload.NewModel(o.customers, o.threshold)
	to := time.Now().UnixMilli()
	fmt.Printf("produce: %d events of %d customers to %d partitions...\n", o.events, o.customers, o.partitions)
	start := time.Now()
	bytes, err := b.broker.produce(ctx, b.bulkTopic, o.partitions, workload.NewBulk(o.seed, o.customers, o.events, to-4*3_600_000, to),
		o.events, model, b.expect)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	secs := time.Since(start).Seconds()
	ends, err := b.broker.endOffsets(ctx, b.bulkTopic, o.partitions)
	if err != nil {
		return err
	}
	for _, e := range ends {
		b.bulk += e
	}
	if b.bulk != int64(o.events) {
		return fmt.Errorf("the bulk topic holds %d records, %d were sent", b.bulk, o.events)
	}
	rep.Produce = produceStats{Events: o.events, Bytes: bytes, Seconds: secs, Rate: float64(o.events) / secs,
		BulkTriggers: len(b.wantTriggers)}
	fmt.Printf("produce: %d events (%.0f MB) in %.1fs; the reference fold fires %d triggers\n", o.events, float64(bytes)/1e6, secs,
		len(b.wantTriggers))

	// The live stream: the same events for every implementation, event
	// times from a minute after the bulk.
	n := int(float64(o.rate) * o.latencyDur.Seconds())
	g := workload.NewLive(o.seed+1, o.customers, o.rate, to+60_000)
	bulkTriggers := len(b.wantTriggers)
	b.live = make([]record, n)
	for i := range b.live {
		e := g.Next()
		if t, ok := model.Fold(&e); ok {
			b.expect(t)
		}
		key := []byte(e.Key())
		b.live[i] = record{key: key, value: workload.AppendJSON(nil, &e), partition: partitionOf(key, o.partitions)}
	}
	b.wantLive = len(b.wantTriggers) - bulkTriggers
	rep.Produce.LiveTriggers = b.wantLive
	if err := enoughTriggers(bulkTriggers, b.wantLive); err != nil {
		return err
	}

	ids := workload.Sample(o.customers, o.sample)
	var sb strings.Builder
	for _, n := range ids {
		s := model.Snapshot(n)
		b.want[s.Customer] = s
		sb.WriteString(s.Customer + "\n")
	}
	b.sampleFile = filepath.Join(b.work, "sample.txt")
	return os.WriteFile(b.sampleFile, []byte(sb.String()), 0o644)
}

func implByName(name string) impl {
	switch name {
	case "raw":
		return impl{name: name, label: "raw kafka-go consumer group + encoding/json", command: func(b *bench, r *runSetup) (string, []string) {
			return filepath.Join(b.opts.bin, "raw"), []string{"-brokers", strings.Join(b.opts.brokers, ","), "-topics", b.bulkTopic + "," + r.liveTopic,
				"-group", r.group, "-marks", r.marksFlag()}
		}}
	case "journey":
		return impl{name: name, label: "journey (Pebble + fsync, Redis)", sink: "redis", command: func(b *bench, r *runSetup) (string, []string) {
			args := []string{"-config", b.opts.journeyConfig, "-brokers", strings.Join(b.opts.brokers, ","),
				"-topics", b.bulkTopic + "," + r.liveTopic, "-group-id", r.group, "-dlq-topic", b.dlqTopic,
				"-redis-addr", b.opts.redisAddr, "-redis-prefix", b.redisPrefix(), "-state-dir", r.stateDir, "-partitions", strconv.Itoa(b.opts.partitions),
				"-marks", r.marksFlag(), "-sample", b.sampleFile, "-dump", r.dump}
			if b.opts.cpuProfile != "" {
				args = append(args, "-cpuprofile", b.opts.cpuProfile, "-cpuprofile-mark", strconv.FormatInt(b.bulk, 10))
			}
			return filepath.Join(b.opts.bin, "journey"), args
		}}
	case "goka":
		return impl{name: name, label: "Goka (LevelDB + table topic)", sink: "kafka", command: func(b *bench, r *runSetup) (string, []string) {
			return filepath.Join(b.opts.bin, "goka"), []string{"-brokers", strings.Join(b.opts.brokers, ","),
				"-topics", b.bulkTopic + "," + r.liveTopic, "-group", r.group, "-output", r.triggerTopic, "-state-dir", r.stateDir,
				"-threshold", strconv.Itoa(b.opts.threshold), "-marks", r.marksFlag(), "-sample", b.sampleFile, "-dump", r.dump}
		}}
	default:
		return impl{name: "kstreams", label: "Kafka Streams (RocksDB + changelog)", sink: "kafka", command: func(b *bench, r *runSetup) (string, []string) {
			args := append(slices.Clone(b.opts.javaOpts), "-cp", b.opts.kstreamsCP, "dev.journey.bench.kstreams.Main",
				"-brokers", strings.Join(b.opts.brokers, ","), "-topics", b.bulkTopic+","+r.liveTopic, "-group", r.group,
				"-output", r.triggerTopic, "-state-dir", r.stateDir, "-threshold", strconv.Itoa(b.opts.threshold),
				"-threads", strconv.Itoa(b.opts.kstreamsThr), "-props", b.opts.kstreamsProps, "-marks", r.marksFlag(), "-sample", b.sampleFile, "-dump", r.dump)
			return b.opts.java, args
		}}
	}
}

// enoughTriggers fails a bench whose reference fold fires no trigger in
// the bulk or the live stream: every implementation would then match it by
// doing nothing, and the latency phase would have no sample. (The fold
// does not depend on the hour: interest with half_life 0s and no contact
// policy, so no quiet hours.)
func enoughTriggers(bulk, live int) error {
	if bulk == 0 || live == 0 {
		return fmt.Errorf("INVALID RUN: the reference fold fires %d triggers in the bulk and %d in the live stream; "+
			"a comparison needs some in both (more -events per -customers, or a longer -latency-duration)", bulk, live)
	}
	return nil
}
