package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/state"
)

// stateRestoreHelp is journey state restore -h's text above the flags.
var stateRestoreHelp = help{
	name:    "state restore",
	args:    "[--config file] [--state-dir dir] [--partitions 0,3,...] [flags]",
	summary: "rebuild a state directory from the changelog topic",
	text: `Rebuild a state directory from the changelog topic (changelog.topic of the
configuration, default <group_id>.changelog) without joining the consumer
group: every partition (or the listed ones) is brought up to the changelog's
end, all partitions at once. A directory that already holds a partition
reads only the records after its position. Use it to take a consistent copy
of a running group's state (then 'journey state get' or 'journey state diff'
it), or to pre-warm a new instance's disk before it joins.

The directory must not be in use. Prints, per partition, the records applied
and the changelog position reached.`,
}

func stateRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(stateRestoreHelp, stdout, stderr)
	parts := fs.String("partitions", "", "partition numbers to restore, a comma-separated `list` (default: all)")
	var ids []int
	fs.group("Restore", "partitions")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	for _, s := range config.List(*parts) {
		id, err := strconv.Atoi(s)
		if err != nil || id < 0 {
			return fs.usageError("--partitions: %q is not a partition number", s)
		}
		ids = append(ids, id)
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if err := os.MkdirAll(cfg.State.Dir, 0o755); err != nil {
		return err
	}
	store, err := state.Open(cfg.State.Dir, app.StoreOptions(cfg, log.Named("pebble")))
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	start := time.Now()
	pc, err := app.SecurePipelineConfig(cfg)
	if err != nil {
		return err
	}
	res, err := pipeline.RestoreStore(ctx, pc, log.Named("restore"), store, m, ids)
	if err != nil {
		return err
	}
	if err := store.Flush(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\trestored\tposition\t")
	var total int64
	for _, r := range res {
		total += r.Restored
		fmt.Fprintf(tw, "%d\t%d\t%d\t\n", r.Partition, r.Restored, r.Position)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "%d records restored into %s in %.1fs (%.0f records/s)\n", total, cfg.State.Dir, secs, float64(total)/max(secs, 1e-9))
	return nil
}
