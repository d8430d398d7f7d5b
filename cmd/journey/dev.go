package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/embedded"
	"github.com/journey-dev/journey/pkg/generate"
)

// devYAML is the configuration journey dev runs with, over the defaults.
//
//go:embed dev.yaml
var devYAML []byte

// devFlags are journey dev's settings.
type devFlags struct {
	kafkaPort, redisPort, adminPort int
	partitions                      int
	rate                            float64
	customers                       int
	seed                            uint64
	duration                        time.Duration
	stateDir, configPath, logLevel  string
}

// devHelp is journey dev -h's text above the flags.
var devHelp = help{
	name: "dev",
	text: `Runs the journey pipeline (the same as journey run) against an in-process Kafka-protocol broker and an
in-process Redis on 127.0.0.1, fed by synthetic omnichannel customers (journey generate), and shows the
triggers as they reach Redis. Everything is in memory and gone at exit. It reads no JOURNEY_* variables:
its configuration is cmd/journey/dev.yaml over the defaults, then --config.`,
	groups: []flagGroup{
		{"Ports", []string{"kafka-port", "redis-port", "admin-port"}},
		{"Simulation", []string{"partitions", "rate", "customers", "seed", "duration"}},
		{"Pipeline", []string{"config", "state-dir", "log-level"}},
	},
}

func parseDevFlags(args []string, stdout, stderr io.Writer) (devFlags, error) {
	var f devFlags
	fs := newFlags(devHelp, stdout, stderr)
	fs.IntVar(&f.kafkaPort, "kafka-port", 9092, "port of the in-process Kafka broker on 127.0.0.1 (0: any free port)")
	fs.IntVar(&f.redisPort, "redis-port", 6379, "port of the in-process Redis on 127.0.0.1 (0: any free port)")
	fs.IntVar(&f.adminPort, "admin-port", 9464, "port of the admin server (/metrics, /readyz) on 127.0.0.1 (0: any free port)")
	fs.IntVar(&f.partitions, "partitions", 4, "partitions of the input and dead-letter topics")
	fs.Float64Var(&f.rate, "rate", 50, "synthetic events per second (0: none; produce your own with kcat)")
	fs.IntVar(&f.customers, "customers", 500, "simulated customers")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the simulation: the same seed gives the same customers and journeys")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.StringVar(&f.stateDir, "state-dir", "", "Pebble state directory, kept at exit (default: a temporary one, removed)")
	fs.StringVar(&f.configPath, "config", "", "YAML file applied over dev's configuration (a processor section replaces dev's)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default warn: the live view is the output)")
	if err := fs.parse(args); err != nil {
		return f, err
	}
	switch {
	case f.partitions < 1 || f.partitions > 1000:
		return f, fs.usageError("--partitions: must be between 1 and 1000, got %d", f.partitions)
	case f.rate < 0:
		return f, fs.usageError("--rate: must not be negative, got %v", f.rate)
	case f.customers < 1:
		return f, fs.usageError("--customers: must be at least 1, got %d", f.customers)
	case f.duration < 0:
		return f, fs.usageError("--duration: must not be negative, got %s", f.duration)
	}
	return f, nil
}

// devConfig returns the configuration journey dev runs the pipeline with:
// the defaults, dev.yaml, then the file at path (if any). Addresses and the
// state directory are left for the caller to fill in.
func devConfig(path string) (config.Config, error) {
	cfg := config.Default()
	if err := cfg.Parse(devYAML); err != nil {
		return cfg, config.InFile("dev.yaml (built in)", err)
	}
	if err := cfg.Load(path); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDevFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	cfg, err := devConfig(f.configPath)
	if err != nil {
		return err
	}
	if f.logLevel != "" {
		cfg.Log.Level = f.logLevel
	}
	adminAddr, err := freeAdminAddr(f.adminPort)
	if err != nil {
		return err
	}
	topics := make([]embedded.Topic, 0, len(cfg.Kafka.Topics)+1)
	for _, t := range append(cfg.Kafka.Topics, cfg.Kafka.DLQTopic) {
		topics = append(topics, embedded.Topic{Name: t, Partitions: f.partitions})
	}
	svc, err := embedded.Start(embedded.Config{
		KafkaPort: f.kafkaPort, KafkaFlag: "--kafka-port",
		RedisPort: f.redisPort, RedisFlag: "--redis-port",
		Topics: topics,
	})
	if err != nil {
		return err
	}
	defer svc.Close()

	cfg.Kafka.Brokers = []string{svc.KafkaAddr()}
	cfg.Redis.Addr = svc.RedisAddr()
	cfg.Admin.Addr = adminAddr
	if cfg.API.Addr != "" {
		cfg.API.Addr = freeAPIAddr(cfg.API.Addr, f.adminPort == 0)
	}
	cfg.State.Dir = f.stateDir
	if f.stateDir == "" {
		dir, err := os.MkdirTemp("", "journey-dev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.State.Dir = dir
	}
	if err := checkConfig(cfg, f.configPath); err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	rdb := redis.NewClient(&redis.Options{Addr: svc.RedisAddr()})
	defer rdb.Close()
	reg := prometheus.NewRegistry()
	traffic := &trafficStats{}
	v := newView(stdout, rdb, cfg.Redis.Prefix, reg, traffic, f.rate)
	v.banner(devBanner{
		kafka: svc.KafkaAddr(), redis: svc.RedisAddr(), admin: adminAddr, api: cfg.API.Addr, topics: cfg.Kafka.Topics, dlq: cfg.Kafka.DLQTopic,
		partitions: f.partitions, prefix: cfg.Redis.Prefix, rate: f.rate, customers: f.customers, seed: f.seed,
	})

	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(gctx, cfg, log, reg) })
	if f.rate > 0 {
		g.Go(func() error {
			st, err := generate.Produce(gctx, generate.ProduceConfig{
				Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topics[0], Rate: f.rate,
				Generator:     generate.Config{Customers: f.customers, Seed: f.seed},
				Progress:      traffic.set,
				ProgressEvery: 500 * time.Millisecond,
			})
			traffic.set(st)
			return err
		})
	}
	g.Go(func() error { return v.run(gctx) })
	err = g.Wait()
	if ctx.Err() == nil && err == nil {
		err = errors.New("stopped unexpectedly")
	}
	v.summary(time.Since(start), f.stateDir)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// freeAdminAddr returns 127.0.0.1:port for the admin server, checking the
// port is free (and picking a free one for 0) so that a taken port is
// reported by its flag before anything starts.
func freeAdminAddr(port int) (string, error) {
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("--admin-port %d: not a port (0 picks a free one)", port)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("--admin-port %d: port 127.0.0.1:%d is not free (is journey run or another journey dev running?); choose another with --admin-port, or 0 for any free port: %w",
			port, port, err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// trafficStats is the generator's latest figures, shared with the view.
type trafficStats struct {
	mu sync.Mutex
	st generate.Stats
}

func (t *trafficStats) set(st generate.Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st = st
}

func (t *trafficStats) get() generate.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// freeAPIAddr is addr when it is free and anyPort is false, else a free port
// on 127.0.0.1: the page's address is printed, so any port will do.
func freeAPIAddr(addr string, anyPort bool) string {
	if !anyPort {
		if ln, err := net.Listen("tcp", addr); err == nil {
			_ = ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return addr // serve reports the failure
	}
	defer ln.Close()
	return ln.Addr().String()
}
