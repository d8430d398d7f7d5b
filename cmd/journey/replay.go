package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/pkg/replay"
)

// replayHelp is journey replay -h's text above the flags.
var replayHelp = help{
	name: "replay",
	args: "--from <earliest|RFC 3339 time|topic:partition:offset,...> --state-dir <new dir> [flags]",
	text: `Rebuilds state from the input topics into a state directory of its own,
through the same decode, fold and contact policy as 'journey run', reading
the topics directly (no consumer group: the live processor keeps running).

  --triggers off     emit nothing (default)
  --triggers shadow  write triggers and context hashes under --shadow-prefix
                     (journey-shadow:), never the live prefix, and print how
                     many each rule would have fired and the policy suppressed

Ctrl-C stops cleanly; the same command resumes where it stopped. When it has
finished, 'journey state diff' compares it with another state directory and
'journey state promote' makes it the live one.`,
	groups: []flagGroup{
		{"Replay", []string{"from", "to", "triggers", "shadow-prefix", "batch", "max-rate"}},
		{"Progress", []string{"progress", "progress-interval"}},
	},
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(replayHelp, stdout, stderr)
	var o replay.Options
	var to, progress string
	fs.StringVar(&o.From, "from", "", "where to start: earliest, an RFC 3339 time, or topic:partition:offset,... (required)")
	fs.StringVar(&to, "to", "", "stop before the first record stamped at or after this RFC 3339 time (default: the end of each partition when the replay starts)")
	fs.StringVar(&o.Triggers, "triggers", replay.TriggersOff, "off or shadow")
	fs.StringVar(&o.ShadowPrefix, "shadow-prefix", replay.DefaultShadowPrefix, "Redis prefix of shadow triggers and contexts")
	fs.StringVar(&progress, "progress", "auto", "auto (a bar on a terminal, else JSON lines), bar, json or none")
	fs.DurationVar(&o.ProgressEvery, "progress-interval", time.Second, "how often progress is reported")
	fs.IntVar(&o.Batch, "batch", 20_000, "records per round")
	fs.Float64Var(&o.MaxRate, "max-rate", 0, "pace the replay to about this many records/s over all partitions (0: as fast as possible)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if to != "" {
		if o.To, err = time.Parse(time.RFC3339Nano, to); err != nil {
			return fs.usageError("--to %q: not an RFC 3339 time", to)
		}
	}
	o.Config = cfg
	switch progress {
	case "auto":
		if isTerminal(stderr) {
			o.Progress = progressBar(stderr)
		} else {
			o.Progress = progressJSON(stderr)
		}
	case "bar":
		o.Progress = progressBar(stderr)
	case "json":
		o.Progress = progressJSON(stderr)
	case "none":
	default:
		return fs.usageError("--progress: %q is not auto, bar, json or none", progress)
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	m, err := replay.Run(ctx, o, log)
	printSummary(stdout, &m)
	if errors.Is(err, replay.ErrInterrupted) {
		fmt.Fprintf(stdout, "\nInterrupted: everything up to here is committed in %s. Run the same command to resume.\n", cfg.State.Dir)
		return nil
	}
	return err
}

// progressBar redraws one line: a bar, records/s, records left and ETA.
func progressBar(w io.Writer) func(replay.Progress) {
	return func(p replay.Progress) {
		const width = 30
		n := int(p.Fraction() * width)
		eta := "–"
		if d := p.ETA(); d > 0 {
			eta = d.Round(time.Second).String()
		}
		fmt.Fprintf(w, "\r[%s%s] %5.1f%%  %s records  %s/s  %s left  ETA %s   ",
			strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*p.Fraction(),
			humanCount(float64(p.Done)), humanCount(p.Rate), humanCount(float64(p.Remaining)), eta)
		if p.Finished {
			fmt.Fprintln(w)
		}
	}
}

// progressJSON writes one JSON object per report.
func progressJSON(w io.Writer) func(replay.Progress) {
	enc := json.NewEncoder(w)
	return func(p replay.Progress) {
		_ = enc.Encode(map[string]any{
			"progress": "replay", "elapsed_s": p.Elapsed.Seconds(), "records_done": p.Done,
			"records_remaining": p.Remaining, "records_per_s": int64(p.Rate), "eta_s": p.ETA().Seconds(),
			"fraction": p.Fraction(), "finished": p.Finished,
		})
	}
}

func humanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// printSummary prints what the replay did, over all its runs: records,
// and per rule and channel the triggers the rules fired and the policy
// suppressed.
func printSummary(w io.Writer, m *replay.Manifest) {
	if m.Started.IsZero() {
		return
	}
	state := "unfinished"
	if m.Done() {
		state = "finished " + m.Completed.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "Replay of %s from %s (%s, %d run(s)): %d records, %d events folded, %d undecodable.\n",
		strings.Join(m.Topics, ","), m.From, state, m.Runs, m.Records, m.Folded, m.DeadLettered)
	if len(m.Fired)+len(m.Suppressed) == 0 {
		fmt.Fprintln(w, "No triggers.")
		return
	}
	what := "would have fired (triggers off: nothing was written)"
	if m.Triggers == replay.TriggersShadow {
		what = "fired into the shadow streams under " + m.ShadowPrefix
	}
	fmt.Fprintf(w, "\nTriggers the rules %s:\n", what)
	fmt.Fprintf(w, "  %-28s %-14s %10s\n", "rule", "channel", "triggers")
	for _, k := range slices.Sorted(maps.Keys(m.Fired)) {
		rule, channel, _ := strings.Cut(k, " ")
		fmt.Fprintf(w, "  %-28s %-14s %10d\n", rule, channel, m.Fired[k])
	}
	if len(m.Suppressed) > 0 {
		fmt.Fprintf(w, "\nSuppressed by the contact policy:\n")
		fmt.Fprintf(w, "  %-28s %-20s %10s\n", "rule", "reason", "triggers")
		for _, k := range slices.Sorted(maps.Keys(m.Suppressed)) {
			rule, reason, _ := strings.Cut(k, " ")
			fmt.Fprintf(w, "  %-28s %-20s %10d\n", rule, reason, m.Suppressed[k])
		}
	}
}
