package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/replay"
)

// runReplay times `journey replay --from earliest --triggers off` over the
// whole topic into a new state dir, wired as the command wires it, and
// checks it read every record.
func runReplay(ctx context.Context, brokers []string, topic, dlq string, ends map[int]int64) (runResult, error) {
	res := runResult{Name: "replay"}
	for _, end := range ends {
		res.Events += end
	}
	cfg := config.Default()
	cfg.Kafka.Brokers, cfg.Kafka.Topics, cfg.Kafka.DLQTopic = brokers, []string{topic}, dlq
	cfg.Kafka.GroupID = "bench-replay" // unused: a replay joins no group
	cfg.Admin.Addr = ""
	cfg.API.Addr = ""
	dir, err := os.MkdirTemp("", "journey-bench-replay-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cfg.State.Dir = dir
	if err := app.Validate(cfg); err != nil {
		return res, err
	}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(os.Stderr), zap.WarnLevel))
	app.TuneRuntime(cfg, os.Getenv)
	cpu := startCPU()
	start := time.Now()
	m, err := replay.Run(ctx, replay.Options{Config: cfg, From: "earliest", Triggers: replay.TriggersOff, Processors: enabledProcessors}, log)
	done := time.Now()
	res.CPU = cpu.stop()
	if err != nil {
		return res, err
	}
	// Identity routing reads forwarded records too: at least the topic's.
	if !m.Done() || m.Records < res.Events {
		return res, fmt.Errorf("replay did not do the work: finished=%v, %d records read of %d", m.Done(), m.Records, res.Events)
	}
	// A replay has no group to join: its start-up (opening Pebble, listing
	// offsets) is inside the timed span.
	res.finish(start, start, done)
	res.StateBytes = dirSize(dir)
	return res, nil
}
