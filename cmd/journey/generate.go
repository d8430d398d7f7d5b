package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/generate"
)

// generateHelp is journey generate -h's text above the flags.
func generateHelp() help {
	var types strings.Builder
	for _, t := range slices.Sorted(maps.Keys(generate.CloudEventTypes())) {
		fmt.Fprintf(&types, "\n    %s: %s", t, generate.CloudEventTypes()[t])
	}
	return help{
		name: "generate",
		text: "Produces synthetic omnichannel customer events (Segment Spec and CloudEvents, keyed by userId else\n" +
			"anonymousId, partitioned like Java clients) to a Kafka topic at a given rate, and reports what it sent.\n" +
			"journey must map the CloudEvents types in ingest.cloudevent_types:" + types.String(),
		groups: []flagGroup{
			{"Kafka", []string{"brokers", "topic", "dial-timeout"}},
			{"Traffic", []string{"rate", "customers", "seed", "think", "away"}},
			{"Limits", []string{"events", "duration"}},
		},
	}
}

// generateFlags registers journey generate's flags on a new flag set,
// filling cfg. The compose test reads it to check the generator service's
// command.
func generateFlags(cfg *generate.ProduceConfig, stdout, stderr io.Writer) (*cmdFlags, *string) {
	fs := newFlags(generateHelp(), stdout, stderr)
	brokers := os.Getenv(config.EnvName("brokers"))
	if brokers == "" {
		brokers = "127.0.0.1:9092"
	}
	brokerList := fs.String("brokers", brokers, "Kafka bootstrap brokers, comma-separated [$JOURNEY_BROKERS]")
	fs.StringVar(&cfg.Topic, "topic", "journey.events", "topic to produce to (journey topics create makes the topics a configuration names)")
	fs.Float64Var(&cfg.Rate, "rate", generate.DefaultRate, "events per second")
	fs.IntVar(&cfg.Generator.Customers, "customers", generate.DefaultCustomers, "simulated customers")
	fs.IntVar(&cfg.Events, "events", 0, "stop after this many events (0: no limit)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0: no limit; with neither, run until Ctrl-C)")
	fs.Uint64Var(&cfg.Generator.Seed, "seed", 1, "seed: the same seed gives the same customers, journeys and message ids")
	fs.DurationVar(&cfg.Generator.Think, "think", generate.DefaultThink, "mean pause between a customer's actions within a visit")
	fs.DurationVar(&cfg.Generator.Away, "away", generate.DefaultAway, "mean time before a customer comes back to an open cart or to review a purchase")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", 10*time.Second, "bound on each start-up call: an address that is not a Kafka broker fails within it")
	return fs, brokerList
}

func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg generate.ProduceConfig
	fs, brokers := generateFlags(&cfg, stdout, stderr)
	configPath := fs.String("config", "", "YAML file whose kafka.brokers, kafka.tls and kafka.sasl (password: kafka.sasl.password_file or $JOURNEY_KAFKA_PASSWORD) the connection uses")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *configPath != "" {
		kc := config.Default()
		if err := kc.Load(*configPath); err != nil {
			return err
		}
		config.SecretsFromEnv(&kc, os.Getenv)
		d, err := app.KafkaDialer(kc)
		if err != nil {
			return err
		}
		cfg.Dialer = d
		brokersSet := os.Getenv(config.EnvName("brokers")) != ""
		fs.Visit(func(f *flag.Flag) { brokersSet = brokersSet || f.Name == "brokers" })
		if !brokersSet {
			*brokers = strings.Join(kc.Kafka.Brokers, ",")
		}
	}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if cfg.Rate <= 0 {
		return fs.usageError("--rate: must be > 0 events/s, got %v", cfg.Rate)
	}
	cfg.ProgressEvery = 5 * time.Second
	cfg.Progress = func(st generate.Stats) {
		fmt.Fprintf(stderr, "journey generate: %s so far\n", st)
	}
	limit := "until Ctrl-C"
	switch {
	case cfg.Events > 0 && cfg.Duration > 0:
		limit = fmt.Sprintf("%d events or %s", cfg.Events, cfg.Duration)
	case cfg.Events > 0:
		limit = fmt.Sprintf("%d events", cfg.Events)
	case cfg.Duration > 0:
		limit = cfg.Duration.String()
	}
	fmt.Fprintf(stderr, "journey generate: %g events/s to %s on %s from %d customers (seed %d), %s\n",
		cfg.Rate, cfg.Topic, strings.Join(cfg.Brokers, ","), cfg.Generator.Customers, cfg.Generator.Seed, limit)
	st, err := generate.Produce(ctx, cfg)
	if err != nil {
		if st.Events > 0 {
			fmt.Fprintf(stdout, "journey generate: %s to %s before the error\n", st, cfg.Topic)
		}
		return err
	}
	fmt.Fprintf(stdout, "journey generate: %s to %s\n", st, cfg.Topic)
	names := slices.Sorted(maps.Keys(st.ByName))
	slices.SortStableFunc(names, func(a, b string) int { return st.ByName[b] - st.ByName[a] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, st.ByName[n])
	}
	fmt.Fprintf(stdout, "  by event: %s\n", strings.Join(parts, ", "))
	return nil
}
