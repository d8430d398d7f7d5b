package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/bench/internal/report"
	"github.com/journey-dev/journey/pkg/config"
)

// results is everything one run measured; written as JSON and markdown.
type results struct {
	Title   string    `json:"title"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Machine machine   `json:"machine"`
	Params  params    `json:"params"`
	Produce produced  `json:"produce"`
	Build   build     `json:"build"`
	// Raw and Restore alternate (raw #1, restore #1, raw #2...); Ratio is
	// the best restore rate over the best raw rate, Pairs the ratios of
	// the back-to-back pairs.
	Raw         []logRead    `json:"raw_reads"`
	Restore     []restoreRun `json:"restores"`
	RawBest     float64      `json:"raw_best_records_per_second"`
	RestoreBest float64      `json:"restore_best_records_per_second"`
	Ratio       float64      `json:"ratio"`
	Pairs       []float64    `json:"pair_ratios"`
	// Tail is the restore into the original directory.
	Tail      restoreRun `json:"tail_restore"`
	Same      bool       `json:"restored_equals_original"`
	Diff      string     `json:"state_diff"`
	Failovers []failover `json:"failovers"`
	Forget    *forgetRun `json:"forget,omitempty"`
	Problems  []string   `json:"problems,omitempty"`
	Notes     []string   `json:"notes"`
}

// build is the `journey run` that wrote the changelog.
type build struct {
	Group     string `json:"group"`
	Changelog string `json:"changelog_topic"`
	Events    int64  `json:"events"`
	// Seconds runs from starting the process to the group's committed
	// offsets reaching the topic's end (start-up and the 1 s commit
	// interval included).
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"events_per_second"`
	Folded      int64   `json:"events_folded"`
	DeadLetters int64   `json:"dead_letters"`
	// ChangelogWritten is journey_changelog_records_total; LogRecords what
	// the topic holds (end − start of every partition) once journey stopped.
	ChangelogWritten int64      `json:"changelog_records_written"`
	LogRecords       int64      `json:"changelog_records"`
	Appends          int64      `json:"changelog_appends"`
	AppendMs         float64    `json:"mean_changelog_append_ms"`
	CommitMs         float64    `json:"mean_batch_commit_ms"`
	Log              logSummary `json:"log"`
}

type machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	CGO      string `json:"cgo"` // CGO_ENABLED of the journey build
	Kernel   string `json:"kernel,omitempty"`
	Kafka    string `json:"kafka,omitempty"`
	Redis    string `json:"redis"`
	Revision string `json:"journey_revision,omitempty"` // git describe of the working tree
}

type params struct {
	Events         int     `json:"events"`
	Customers      int     `json:"customers"`
	Partitions     int     `json:"partitions"`
	Seed           uint64  `json:"seed"`
	Runs           int     `json:"runs"`
	Instances      int     `json:"instances"`
	Standbys       []int   `json:"standbys"`
	SessionTimeout float64 `json:"session_timeout_seconds"`
	Rate           int     `json:"paced_events_per_second"`
	Steady         float64 `json:"paced_seconds_before_kill"`
	PollMs         float64 `json:"readyz_poll_ms"`
	StateSync      bool    `json:"state_sync"`
	MaxBatch       int     `json:"batch_max_records"`
	Compression    string  `json:"changelog_compression"`
}

func paramsOf(o options) params {
	d := config.Default()
	return params{Events: o.events, Customers: o.customers, Partitions: o.partitions, Seed: o.seed, Runs: o.runs,
		Instances: o.instances, Standbys: o.standbys, SessionTimeout: o.sessionTimeout.Seconds(), Rate: o.rate,
		Steady: o.steady.Seconds(), PollMs: float64(o.pollEvery.Microseconds()) / 1000, StateSync: d.StateSync(),
		MaxBatch: d.Batch.MaxRecords, Compression: d.Changelog.Compression}
}

func describeMachine(ctx context.Context, rdb *redis.Client, goCmd string) (machine, error) {
	m := machine{CPU: cmp.Or(report.CPUModel(), "unknown CPU"), Cores: runtime.NumCPU(), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CGO: "?", Kernel: report.Kernel(), Revision: report.Revision(ctx)}
	var err error
	if m.Redis, err = report.RedisVersion(ctx, rdb); err != nil {
		return m, fmt.Errorf("redis: %w", err)
	}
	if out, err := exec.CommandContext(ctx, goCmd, "env", "CGO_ENABLED").Output(); err == nil {
		m.CGO = strings.TrimSpace(string(out))
	}
	if v := report.KafkaVersion(os.Getenv("JOURNEY_TEST_KAFKA_LIBS")); v != "" {
		m.Kafka = v + " (1 broker, KRaft)"
	}
	return m, nil
}

// finish computes the ratios and the notes.
func (r *results) finish() {
	r.Title = "journey scale-out benchmark — changelog restore and failover"
	for i, raw := range r.Raw {
		r.RawBest = max(r.RawBest, raw.Rate)
		if i < len(r.Restore) {
			r.Pairs = append(r.Pairs, r.Restore[i].Rate/raw.Rate)
		}
	}
	for _, rs := range r.Restore {
		r.RestoreBest = max(r.RestoreBest, rs.Rate)
	}
	if r.RawBest > 0 {
		r.Ratio = r.RestoreBest / r.RawBest
	}
	for _, f := range r.Failovers {
		if f.Problem != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("--standbys %d: %s", f.Standbys, f.Problem))
		}
		for name, l := range f.Logs {
			if l.Errors > 0 {
				r.Problems = append(r.Problems, fmt.Sprintf("--standbys %d: %s logged %d errors: %s", f.Standbys, name, l.Errors,
					strings.Join(l.Samples, "; ")))
			}
		}
	}
	r.Notes = []string{
		"Restore: `journey state restore --config <the group's> --state-dir <empty dir>`, every partition at once, as the command " +
			"times itself (from the store opened to the final flush) and prints it (`N records restored into DIR in S s (R records/s)`); " +
			"'process' adds the process's start, Pebble's open and close. It reads each partition with a kafka.Reader (16 MiB fetches) " +
			"and applies the records to Pebble in batches of up to 8 MiB (no fsync per batch, one flush at the end).",
		"Raw read: the same changelog read by this process with one kafka-go Reader per partition configured as the restore's, " +
			"every record's value checked as restore checks it, nothing applied; timed from the ListOffsets request to the last " +
			"record. The ratio restore ÷ raw is the cost of applying to Pebble over merely reading; raw and restore alternate, back to back.",
		"The changelog holds every write of every round (states, outbox entries and their deletions, dedup markers, " +
			"timers, offsets), lz4-compressed; compaction has had little chance to run (128 MiB segments, a fresh topic), so a " +
			"restore applies about what was written. 'Tail only' restores into the directory journey itself wrote, which is at " +
			"the changelog's end after a clean stop: nothing to apply.",
		"Same state: `journey state diff` between the first restored directory and the original: every processor's state of " +
			"every customer, each partition's input offsets and pending timers.",
		"Failover: each group (a changelog of its own) starts -instances `journey run` processes on an empty input topic of " +
			"its own; once they have shared the partitions out, the same workload is produced to it and folded. Once the group " +
			"has committed it all, a paced producer (pkg/generate, as `journey generate`: every 10 ms, acks=all) runs to that " +
			"topic, the last instance started is killed with SIGKILL, and the survivors' /readyz is polled until every " +
			"partition is ready on one of them. So without a standby no survivor holds any copy of a moved partition: it " +
			"restores the partition's whole changelog ('their changelog records at the kill'); with one, it has tailed it all " +
			"along and restores only what it had not applied yet.",
		"The dead member keeps its partitions until the broker's session timeout expires, counted from its last heartbeat " +
			"(up to a heartbeat interval, a fifth of the session timeout, before the kill); the survivors learn of the " +
			"rebalance at their own next heartbeat, finish their batch, rejoin, restore and start. So 'kill → rebalance " +
			"noticed' is the session timeout give or take a heartbeat interval, and 'less the session timeout' (restore + " +
			"rejoin) carries that jitter; 'rebalance noticed → ready' starts at the first change in a survivor's /readyz (its " +
			"generation ending) and is the part journey controls.",
		"Kafka, Redis, journey and the bench share this machine's cores. 'cores' is the average number of cores busy in the " +
			"process measured (the restore, or this bench for the raw read), in the rig's Kafka and Redis, and in anything else: " +
			"a high 'other' means another job shared the machine and the figure is noisy. The bench reports; it does not pass " +
			"or fail on timing.",
	}
}

func (r *results) markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m, pa := r.Machine, r.Params
	p("# %s\n\n", r.Title)
	p("%s, %d cores, %s (CGO_ENABLED=%s), %s (kernel %s); Kafka %s, Redis %s, all on this machine over loopback; journey at %s.  \n",
		m.CPU, m.Cores, m.Go, m.CGO, m.OS, report.Dash(m.Kernel), report.Dash(m.Kafka), m.Redis, report.Dash(m.Revision))
	p("Run %s, %.0f s in all. Workload: %s Segment events (bench/peers/workload), %s customers, %d partitions, seed %d; every "+
		"processor, journey's defaults (state.sync %t, batches of up to %s records, changelog %s).\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Seconds, report.Num(float64(pa.Events)), report.Num(float64(pa.Customers)), pa.Partitions, pa.Seed,
		pa.StateSync, report.Num(float64(pa.MaxBatch)), pa.Compression)

	bl := r.Build
	p("**journey state restore ÷ raw changelog read: %.2f** (best %s ÷ best %s records/s, %d each; back-to-back pairs %s). "+
		"The changelog held %s records, %.2f per event.  \n", r.Ratio, report.Num(r.RestoreBest), report.Num(r.RawBest), len(r.Restore),
		report.Ratios(r.Pairs), report.Num(float64(bl.LogRecords)), float64(bl.LogRecords)/float64(max(bl.Events, 1)))
	p("**Restore into the original directory (tail only): %s records in %.2f s** (process %.2f s).  \n",
		report.Num(float64(r.Tail.Records)), r.Tail.Seconds, r.Tail.Wall)
	same := "**NO**"
	if r.Same {
		same = "yes"
	}
	p("**Restored state equals the original: %s** (journey state diff: %s).  \n", same, firstLine(r.Diff))
	for _, f := range r.Failovers {
		if f.Problem != "" {
			p("**Failover, --standbys %d: every partition NOT ready again within the timeout** (below).  \n", f.Standbys)
			continue
		}
		p("**Failover, --standbys %d (kill -9 of 1 of %d instances, session timeout %.0f s): every partition ready %.2f s after the kill** "+
			"(less the session timeout %.2f s; from the survivor noticing the rebalance %.2f s; %s records restored for %d moved partitions).  \n",
			f.Standbys, f.Instances, f.SessionTimeout, f.Ready, f.RestoreRejoin, f.AfterNoticed, report.Num(float64(f.Restored)), len(f.Moved))
	}
	if f := r.Forget; f != nil {
		var ts []string
		for _, t := range f.Rounds {
			ts = append(ts, fmt.Sprintf("%d id(s), %d with triggers: %.2f s, %d left in Redis", t.IDs, t.WithTriggers, t.Seconds, t.Left))
		}
		var ss []string
		for _, k := range slices.Sorted(maps.Keys(f.Streams)) {
			ss = append(ss, fmt.Sprintf("%s %s", k, report.Num(float64(f.Streams[k]))))
		}
		limit := "the default " + report.Num(float64(config.Default().State.MemoryLimit>>20)) + " MiB"
		if f.MemoryLimit > 0 {
			limit = report.Num(float64(f.MemoryLimit>>20)) + " MiB"
		}
		p("**Memory: journey run folding %s events of %s new customers peaked at %.0f MB RSS (VmHWM)** with state.memory_limit %s "+
			"(target ≤ 512 MB with the defaults); the fold took %.1f s (%s events/s).  \n", report.Num(float64(f.Events)), report.Num(float64(f.Customers)),
			f.RSSMB, limit, f.FoldSeconds, report.Num(float64(f.Events)/f.FoldSeconds))
		p("**journey forget --wait with %s customers in state: %s** (process start to exit; trigger streams filled to their cap: %s; "+
			"journey run peak RSS %.0f MB; folding the %s events took %.1f s).  \n", report.Num(float64(f.Customers)), strings.Join(ts, "; "),
			strings.Join(ss, ", "), f.RSSMB, report.Num(float64(f.Events)), f.FoldSeconds)
	}
	p("\n")

	p("| phase | records | time | records/s | ÷ raw | cores: process / Kafka+Redis / other |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	pr := r.Produce
	p("| produce the workload (kafka-go Writer, acks=1) | %s events | %.2f s | %s events/s | – | – |\n", report.Num(float64(pr.Events)),
		pr.Seconds, report.Num(pr.Rate))
	p("| journey run, 1 instance: start → input committed | %s events | %.2f s | %s events/s | – | – |\n", report.Num(float64(bl.Events)),
		bl.Seconds, report.Num(bl.Rate))
	for i := range max(len(r.Raw), len(r.Restore)) {
		if i < len(r.Raw) {
			raw := r.Raw[i]
			p("| raw changelog read #%d (kafka-go, a Reader per partition) | %s | %.2f s | **%s** | 1.00 | %s |\n", i+1,
				report.Num(float64(raw.Records)), raw.Seconds, report.Num(raw.Rate), raw.Cores)
		}
		if i < len(r.Restore) {
			rs := r.Restore[i]
			ratio := "–"
			if i < len(r.Pairs) {
				ratio = fmt.Sprintf("%.2f", r.Pairs[i])
			}
			p("| journey state restore #%d into an empty dir | %s | %.2f s (process %.2f s) | **%s** | %s | %s |\n", i+1,
				report.Num(float64(rs.Records)), rs.Seconds, rs.Wall, report.Num(rs.Rate), ratio, rs.Cores)
		}
	}
	t := r.Tail
	p("| journey state restore into the original dir (tail only) | %s | %.2f s (process %.2f s) | – | – | %s |\n",
		report.Num(float64(t.Records)), t.Seconds, t.Wall, t.Cores)
	p("\n")
	logMB := 0.0
	if len(r.Raw) > 0 {
		logMB = float64(r.Raw[0].Bytes) / 1e6
	}
	p("| journey run | events folded | dead letters | changelog records written | in the topic (keys + values, uncompressed) | appends (rounds) | mean append | mean Pebble commit | warnings / errors logged |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	p("| %s | %s | %s | %s | %s (%.0f MB) | %s | %.2f ms | %.2f ms | %d / %d |\n", bl.Group, report.Num(float64(bl.Folded)),
		report.Num(float64(bl.DeadLetters)), report.Num(float64(bl.ChangelogWritten)), report.Num(float64(bl.LogRecords)), logMB, report.Num(float64(bl.Appends)),
		bl.AppendMs, bl.CommitMs, bl.Log.Warnings, bl.Log.Errors)

	if len(r.Failovers) > 0 {
		p("\n| --standbys | instances | events folded first (catch-up) | killed (its partitions) | kill → rebalance noticed | kill → every partition ready | − session timeout (restore + rejoin) | rebalance noticed → ready | records restored (moved partitions) | their changelog records at the kill | standby copies of them | paced producer (achieved) | warnings / errors (all instances) |\n")
		p("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, f := range r.Failovers {
			var warns, errs int
			for _, l := range f.Logs {
				warns, errs = warns+l.Warnings, errs+l.Errors
			}
			ready, rest, after := fmt.Sprintf("**%.2f s**", f.Ready), fmt.Sprintf("%.2f s", f.RestoreRejoin), fmt.Sprintf("%.2f s", f.AfterNoticed)
			if f.Problem != "" {
				ready, rest, after = "**not ready**", "–", "–"
			}
			p("| %d | %d | %s (%.1f s) | %s (%s) | %.2f s | %s | %s | %s | %s | %s | %d | %s/s (%s/s) | %d / %d |\n", f.Standbys, f.Instances,
				report.Num(float64(f.Events)), f.CatchUp, f.Victim, ints(f.Moved), f.Noticed, ready, rest, after, report.Num(float64(f.Restored)),
				report.Num(float64(f.MovedLog)), f.StandbyCopies, report.Num(f.Paced.Rate), report.Num(f.Paced.Achieved), warns, errs)
		}
		p("\nSession timeout %.0f s (kafka.session_timeout; heartbeats every %.0f s); /readyz polled every %.0f ms (%s).\n",
			pa.SessionTimeout, pa.SessionTimeout/5, pa.PollMs, pollCounts(r.Failovers))
	}
	if len(r.Problems) > 0 {
		p("\n**Problems:**\n\n")
		for _, pb := range r.Problems {
			p("- %s\n", strings.ReplaceAll(pb, "\n", " "))
		}
	}
	p("\nNotes:\n\n")
	for _, n := range r.Notes {
		p("- %s\n", n)
	}
}

func pollCounts(fs []failover) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%d polls with --standbys %d", f.Polls, f.Standbys)
	}
	return strings.Join(parts, ", ")
}

func (r *results) write(dir string) error {
	return report.Write(dir, "scale", r, r.markdown)
}

func (c cores) String() string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", c.Process, c.Services, c.Other)
}

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
