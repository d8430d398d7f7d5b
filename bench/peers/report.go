package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	benchreport "github.com/journey-dev/journey/bench/internal/report"

	"github.com/redis/go-redis/v9"
)

type report struct {
	Title      string       `json:"title"`
	Started    time.Time    `json:"started"`
	Seconds    float64      `json:"seconds"`
	Machine    machine      `json:"machine"`
	Params     params       `json:"params"`
	Produce    produceStats `json:"produce"`
	Results    []result     `json:"results"`
	Targets    []target     `json:"targets"`
	ProfileTop string       `json:"journey_profile_top,omitempty"`
	Notes      []string     `json:"notes"`
}

type machine struct {
	// Revision is the journey source the binaries were built from (git
	// describe of the working tree).
	Revision string `json:"journey_revision"`
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Java     string `json:"java"`
	Kafka    string `json:"kafka"`
	Redis    string `json:"redis"`
}

type params struct {
	Events          int     `json:"events"`
	Customers       int     `json:"customers"`
	Partitions      int     `json:"partitions"`
	Seed            uint64  `json:"seed"`
	Threshold       int     `json:"threshold"`
	LatencyRate     int     `json:"latency_events_per_second"`
	LatencySeconds  float64 `json:"latency_seconds"`
	SampleCustomers int     `json:"sample_customers"`
	JourneyConfig   string  `json:"journey_config"`
	JavaOpts        string  `json:"java_opts"`
	KStreamsThreads int     `json:"kstreams_threads"`
	CPUProfile      string  `json:"cpuprofile,omitempty"`
}

type produceStats struct {
	Events       int     `json:"events"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	Rate         float64 `json:"events_per_second"`
	BulkTriggers int     `json:"reference_triggers_bulk"`
	LiveTriggers int     `json:"reference_triggers_live"`
}

// target is one of the throughput targets journey is held to.
type target struct {
	What  string  `json:"what"`
	Want  float64 `json:"want"`
	Got   float64 `json:"got"`
	Met   bool    `json:"met"`
	Known bool    `json:"known"` // both sides ran
}

func paramsOf(o options) params {
	return params{Events: o.events, Customers: o.customers, Partitions: o.partitions, Seed: o.seed, Threshold: o.threshold,
		LatencyRate: o.rate, LatencySeconds: o.latencyDur.Seconds(), SampleCustomers: min(o.sample, o.customers),
		JourneyConfig: o.journeyConfig, JavaOpts: strings.Join(o.javaOpts, " "), KStreamsThreads: o.kstreamsThr, CPUProfile: o.cpuProfile}
}

func describeMachine(ctx context.Context, rdb *redis.Client, o options) machine {
	m := machine{CPU: cmp.Or(benchreport.CPUModel(), "unknown CPU"), Cores: runtime.NumCPU(), Go: runtime.Version(), Java: "?",
		Kafka: "?", Redis: "?", Kernel: benchreport.Kernel(), Revision: benchreport.Revision(ctx)}
	if out, err := exec.CommandContext(ctx, o.java, "-version").CombinedOutput(); err == nil {
		first, _, _ := strings.Cut(string(out), "\n")
		if _, v, ok := strings.Cut(first, `version "`); ok {
			m.Java, _, _ = strings.Cut(v, `"`)
		}
	}
	if v := benchreport.KafkaVersion(filepath.Join(cmp.Or(os.Getenv("JOURNEY_CACHE"), ".cache"), "kafka", "libs")); v != "" {
		m.Kafka = v + " (1 broker, KRaft)"
	}
	if v, err := benchreport.RedisVersion(ctx, rdb); err == nil {
		m.Redis = v
	}
	return m
}

// finish computes the ratios, the targets and the notes.
func (r *report) finish() {
	r.Title = "journey vs its peers: same broker, same workload, one run"
	rate := map[string]float64{}
	for _, res := range r.Results {
		rate[res.Name] = res.Rate
	}
	for i := range r.Results {
		res := &r.Results[i]
		if raw := rate["raw"]; raw > 0 {
			res.VsRaw = res.Rate / raw
		}
		if j := rate["journey"]; j > 0 && res.Rate > 0 {
			res.JourneyOver = j / res.Rate
		}
	}
	for _, t := range []struct {
		what, other string
		want        float64
		ratio       func(j, o float64) float64
	}{
		{"journey ÷ Goka events/s", "goka", 2, func(j, o float64) float64 { return j / o }},
		{"journey ÷ Kafka Streams events/s", "kstreams", 1.5, func(j, o float64) float64 { return j / o }},
		{"journey ÷ raw consumer events/s", "raw", 0.6, func(j, o float64) float64 { return j / o }},
	} {
		j, o := rate["journey"], rate[t.other]
		tg := target{What: t.what, Want: t.want, Known: j > 0 && o > 0}
		if tg.Known {
			tg.Got = t.ratio(j, o)
			tg.Met = tg.Got >= t.want
		}
		r.Targets = append(r.Targets, tg)
	}
	r.Notes = []string{
		"events/s: the bulk topic read from its start, from the first record processed to the last, as each process " +
			"reports it (bench/peers/progress): for journey, processed means committed to Pebble (fsync) with every trigger in " +
			"Redis; for Goka and Kafka Streams, folded, stored and handed to their producer (their changelog and trigger writes " +
			"may still be in flight); for the raw consumer, decoded. Start-up (JVM, group join, rebalance) is shown apart.",
		"CPU: user + system seconds of the process alone (/proc/<pid>/stat) over the same window, per million events; " +
			"peak RSS: VmHWM of the process after the latency phase. 'cores' splits the machine's busy time over the window " +
			"between the process, the rig's Kafka and Redis, and everything else (a high 'other' means a noisy run).",
		"latency: the live stream (its own topic per implementation, the same events) at the fixed rate, with the " +
			"implementation caught up; from the broker's append time of the causing event (LogAppendTime, milliseconds: a " +
			"sample may read up to 1 ms high) to the bench receiving the trigger: from the trigger topic (a kafka-go reader) " +
			"for the peers, from journey's Redis stream (XREAD) for journey.",
		"same work: every implementation's triggers are compared with the reference fold's (bench/peers/workload), and so is " +
			"the final state of the sample customers (counts per event kind; per category the views counted, purchased, fired); " +
			"a difference fails the run.",
		"settings: journey runs its production defaults (bench/peers/journey.yaml: state.sync on, batches of up to " +
			"10,000 records, GOGC 400 under a soft memory limit, as `journey run` sets them) with the profile and interest processors; Goka its " +
			"defaults (sarama, snappy, producer flush every 100 ms) with Kafka's partitioning hash; Kafka Streams its " +
			"defaults (producer linger.ms 100) with 2 stream threads, a 1 GiB heap and the main consumer's " +
			"fetch.max.wait.ms at 10 ms (bench/README.md says why). The producer settings of the peers set most of " +
			"their latency.",
		"durability differs: journey commits state, input offsets and triggers in one fsynced Pebble batch per group " +
			"(exactly-once state); Goka writes every state change to its table topic and commits the input offset once that " +
			"write is acknowledged; Kafka Streams (at-least-once, its default) flushes its cache, changelog and offsets every " +
			"commit.interval.ms (30 s). journey also validates every event against its JSON Schema, de-duplicates event ids " +
			"and writes a context hash per customer to Redis; the peers do not.",
	}
}

func (r *report) markdown(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "# %s\n\n", r.Title)
	fmt.Fprintf(w, "%s, %d cores, kernel %s; %s, Java %s; Kafka %s, Redis %s, all on this machine over loopback; journey at %s.  \n",
		m.CPU, m.Cores, m.Kernel, m.Go, m.Java, m.Kafka, m.Redis, benchreport.Dash(m.Revision))
	p := r.Params
	fmt.Fprintf(w, "Run %s, %.0f s in all. Workload: %s Segment events of %s customers, %d partitions, seed %d (%.0f MB, produced at %s events/s); "+
		"threshold %d; the reference fold fires %s triggers on it and %s on the live stream.\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Seconds, benchreport.Num(float64(p.Events)), benchreport.Num(float64(p.Customers)), p.Partitions, p.Seed,
		float64(r.Produce.Bytes)/1e6, benchreport.Num(r.Produce.Rate), p.Threshold, benchreport.Num(float64(r.Produce.BulkTriggers)),
		benchreport.Num(float64(r.Produce.LiveTriggers)))

	fmt.Fprintf(w, "| implementation | events/s | ÷ raw | journey ÷ it | CPU s per M events | peak RSS (VmHWM) | latency p50 / p99 at %s events/s | triggers | same state |\n",
		benchreport.Num(float64(p.LatencyRate)))
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, res := range r.Results {
		lat, trig, same := "–", "–", "–"
		if l := res.Latency; l != nil {
			lat = fmt.Sprintf("%.1f / %.1f ms", l.Seen.P50, l.Seen.P99)
			trig = benchreport.Num(float64(res.Triggers))
			if len(res.Mismatches) > 0 {
				same = "**NO**"
			} else {
				same = fmt.Sprintf("yes (%d customers)", res.SampleSize)
			}
		}
		ratio := func(x float64) string {
			if x == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", x)
		}
		fmt.Fprintf(w, "| %s | **%s** | %s | %s | %.2f | %.0f MB | %s | %s | %s |\n", res.Label, benchreport.Num(res.Rate), ratio(res.VsRaw),
			ratio(res.JourneyOver), res.CPUPerMillion, mb(res.PeakRSS), lat, trig, same)
	}
	fmt.Fprintln(w)
	for _, t := range r.Targets {
		switch {
		case !t.Known:
			fmt.Fprintf(w, "- target %s ≥ %.1f: not measured (not run)\n", t.What, t.Want)
		case t.Met:
			fmt.Fprintf(w, "- target %s ≥ %.1f: **met** (%.2f)\n", t.What, t.Want, t.Got)
		default:
			fmt.Fprintf(w, "- target %s ≥ %.1f: **not met** (%.2f)\n", t.What, t.Want, t.Got)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| implementation | start-up | first → last record | CPU s (window / whole life) | cores: it / Kafka+Redis / other | peak RSS after bulk | latency samples (achieved rate) | p90 / max |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, res := range r.Results {
		lat, tail := "–", "–"
		if l := res.Latency; l != nil {
			lat = fmt.Sprintf("%s (%s/s)", benchreport.Num(float64(l.Samples)), benchreport.Num(l.Achieved))
			tail = fmt.Sprintf("%.1f / %.1f ms", l.Seen.P90, l.Seen.Max)
		}
		fmt.Fprintf(w, "| %s | %.1f s | %.2f s | %.1f / %.1f | %.2f / %.2f / %.2f | %.0f MB | %s | %s |\n", res.Name, res.StartupSec,
			res.Seconds, res.CPUSeconds, res.CPUTotal, res.Cores.Process, res.Cores.Services, res.Cores.Other, mb(res.PeakRSSBulk), lat, tail)
	}
	for _, res := range r.Results {
		if l := res.Latency; l != nil && l.RedisStamp != nil {
			fmt.Fprintf(w, "\njourney's latency to the Redis entry's own time (its id, without the bench's XREAD): p50 %.1f ms, p99 %.1f ms.\n",
				l.RedisStamp.P50, l.RedisStamp.P99)
		}
		if len(res.Mismatches) > 0 {
			fmt.Fprintf(w, "\n**%s did not do the same work:**\n\n", res.Name)
			for _, mm := range res.Mismatches {
				fmt.Fprintf(w, "- %s\n", strings.ReplaceAll(mm, "\n", " "))
			}
		}
	}
	if r.ProfileTop != "" {
		fmt.Fprintf(w, "\njourney's CPU profile over the bulk topic (%s), top entries:\n\n```\n%s```\n", p.CPUProfile, r.ProfileTop)
	}
	fmt.Fprintln(w, "\nNotes:")
	fmt.Fprintln(w)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

func (r *report) write(dir string) error {
	return benchreport.Write(dir, "peers", r, r.markdown)
}

// profileTop returns the top entries of a CPU profile (go tool pprof), or
// "" when the go command is not there.
func profileTop(bin, profile string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=15", bin, profile).Output()
	if err != nil {
		return ""
	}
	// Keep the summary lines and the table, less the header noise.
	var keep []string
	for l := range strings.Lines(string(out)) {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "")
}
