package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/bench/internal/procstat"
	"github.com/journey-dev/journey/bench/internal/report"
)

// cpuUse is the CPU spent during a phase, in cores busy on average: by this
// process (the client under test plus the bench's own producer or checks),
// by the rig's Kafka and Redis, and by everything else on the machine (other
// work on a shared machine: a high figure means a noisy run).
type cpuUse struct {
	Wall          float64 `json:"wall_seconds"`
	ProcessCores  float64 `json:"process_cores"`
	ServicesCores float64 `json:"kafka_redis_cores"`
	OtherCores    float64 `json:"other_cores"`
	MachineCores  float64 `json:"machine_cores"`
}

func (u cpuUse) String() string {
	return fmt.Sprintf("%.2f / %.2f / %.2f", u.ProcessCores, u.ServicesCores, u.OtherCores)
}

// servicePIDs are the processes of the rig's Kafka and Redis, found by
// their listening ports at start-up.
var servicePIDs []int

type cpuMark struct {
	at       time.Time
	proc     time.Duration
	services float64 // seconds
	busy     float64 // seconds, all cores
	machine  bool
}

func startCPU() cpuMark {
	busy, ok := procstat.MachineBusy()
	return cpuMark{at: time.Now(), proc: procstat.SelfCPU(), services: procstat.PIDsCPU(servicePIDs), busy: busy, machine: ok}
}

func (m cpuMark) stop() cpuUse {
	wall := time.Since(m.at).Seconds()
	u := cpuUse{
		Wall: wall, ProcessCores: (procstat.SelfCPU() - m.proc).Seconds() / wall,
		ServicesCores: (procstat.PIDsCPU(servicePIDs) - m.services) / wall,
	}
	if busy, ok := procstat.MachineBusy(); ok && m.machine {
		u.MachineCores = (busy - m.busy) / wall
		u.OtherCores = max(u.MachineCores-u.ProcessCores-u.ServicesCores, 0)
	}
	return u
}

// listeners returns the pids of the processes listening on the given TCP
// ports (loopback), from /proc/net/tcp and each process's open sockets.
func listeners(ports ...int) []int {
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			port, err := strconv.ParseInt(hexPort, 16, 32)
			if err == nil && slices.Contains(ports, int(port)) {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	var pids []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + p.Name() + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); err == nil && inodes[target] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// machine describes where the figures were measured.
type machine struct {
	CPU          string `json:"cpu"`
	Cores        int    `json:"cores"`
	GoVersion    string `json:"go"`
	OS           string `json:"os"`
	CGO          string `json:"cgo"` // CGO_ENABLED of this build; `make build` uses 0
	Kernel       string `json:"kernel,omitempty"`
	KafkaVersion string `json:"kafka,omitempty"`
	RedisVersion string `json:"redis,omitempty"`
}

func describeMachine() machine {
	return machine{
		CPU: cmp.Or(report.CPUModel(), "unknown"), Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CGO: cmp.Or(report.BuildCGO(), "?"), Kernel: report.Kernel(),
		KafkaVersion: report.KafkaVersion(os.Getenv("JOURNEY_TEST_KAFKA_LIBS")),
	}
}

// params are the bench's settings, recorded with the results.
type params struct {
	Events      int     `json:"events"`
	Customers   int     `json:"customers"`
	Partitions  int     `json:"partitions"`
	Seed        uint64  `json:"seed"`
	Runs        int     `json:"runs"`
	LatencyRate int     `json:"latency_events_per_second"`
	LatencySecs float64 `json:"latency_seconds"`
	StateSync   bool    `json:"state_sync"`
	// Overlay is -set: YAML read over the default config ("" for none).
	Overlay       string `json:"config_overlay,omitempty"`
	MaxBatch      int    `json:"batch_max_records"`
	MaxBatchBytes int    `json:"batch_max_bytes"`
	BacklogWait   string `json:"batch_backlog_wait"`
	FetchMaxBytes int    `json:"fetch_max_bytes"`
	FetchMaxWait  string `json:"fetch_max_wait"`
	CPUProfile    string `json:"cpu_profile,omitempty"`
	// Beside is -beside: the configuration run beside this one.
	Beside string `json:"beside_overlay,omitempty"`
	// Processors are the processors journey folded through (all of
	// processors.All, default sections), in order.
	Processors []string `json:"processors"`
}

// results is everything one bench run measured; written as JSON and
// markdown.
type results struct {
	Issue    string        `json:"issue"`
	Started  time.Time     `json:"started"`
	Seconds  float64       `json:"seconds"`
	Machine  machine       `json:"machine"`
	Params   params        `json:"params"`
	Produce  produceResult `json:"produce"`
	Raw      []runResult   `json:"raw"`
	Journey  []runResult   `json:"journey"`
	RawBest  float64       `json:"raw_best_events_per_second"`
	JourBest float64       `json:"journey_best_events_per_second"`
	// Ratio is journey's best rate over the raw consumer's best; Pairs
	// are the ratios of the back-to-back pairs (run i over run i).
	Ratio float64   `json:"ratio"`
	Pairs []float64 `json:"pair_ratios"`
	// Beside are the -beside runs, one before each journey run;
	// BesidePairs journey's rate over the beside run's of the same pair.
	Beside      []runResult   `json:"beside,omitempty"`
	BesideBest  float64       `json:"beside_best_events_per_second,omitempty"`
	BesidePairs []float64     `json:"beside_pair_ratios,omitempty"`
	Latency     latencyResult `json:"latency"`
	// Floor is the latency phase's baseline: the same paced producer read
	// by a raw kafka-go consumer (runFloor). Its event_to_redis_ms are
	// Kafka append → decoded by that consumer: nothing goes to Redis.
	Floor latencyResult `json:"latency_floor"`
	// Replay is journey replay over the whole topic; ReplayRatio its rate
	// over RawBest.
	Replay      runResult `json:"replay"`
	ReplayRatio float64   `json:"replay_ratio"`
	// API is the API phase (-api-rps), nil without it.
	API   *apiResult `json:"api,omitempty"`
	Notes []string   `json:"notes"`
	// Compare is another run of the same workload with another
	// configuration (-compare: identity routing off), shown beside this one.
	Compare *compared `json:"compare,omitempty"`
	// Invalid lists why the figures do not stand (tooFewTriggers); the
	// run then exits 1. Empty for a valid run.
	Invalid []string `json:"invalid,omitempty"`
}

// minTriggerShare is the default of -min-trigger-share: the triggers a
// throughput run or the latency phase must deliver, as a share of its
// events. The workload gives 3.7-6.7 % (every processor / interest only,
// 2026-12-07); with every email trigger held by quiet hours, 0.
const minTriggerShare = 0.01

// tooFewTriggers returns a line for every journey run and for the latency
// phase that delivered no triggers, or fewer than minShare of its events:
// journey then did not do the work the figures claim (a night's quiet
// hours held every email trigger once), so they are not valid.
func tooFewTriggers(r *results, minShare float64) []string {
	var out []string
	check := func(phase string, triggers int64, events int) {
		want := int64(math.Ceil(minShare * float64(events)))
		if triggers == 0 || triggers < want {
			out = append(out, fmt.Sprintf("%s delivered %s triggers for %s events, want at least %s (%.1f %%)", phase,
				report.Int(int(triggers)), report.Int(events), report.Int(int(max(want, 1))), minShare*100))
		}
	}
	for i, run := range r.Journey {
		check(fmt.Sprintf("journey run #%d", i+1), run.Triggers, int(run.Events))
	}
	if r.Latency.Events > 0 {
		check("the latency phase", r.Latency.Triggers, r.Latency.Events)
	}
	if r.API != nil && r.API.With.Events > 0 {
		check("the latency phase under API load", r.API.With.Triggers, r.API.With.Events)
	}
	return out
}

const (
	targetRatio = 0.6
	targetP99   = 20.0 // ms

	targetReplayRatio = 0.8
)

// compared is the figures of the run named by -compare.
type compared struct {
	Name    string  `json:"name"`
	Overlay string  `json:"overlay"`
	Ratio   float64 `json:"ratio"`
	Rate    float64 `json:"journey_best_events_per_second"`
	P99     float64 `json:"p99_ms"`
}

// loadCompared reads the results file of the -compare run.
func loadCompared(path string) (*compared, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var o results
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &compared{Name: strings.TrimSuffix(filepath.Base(path), ".json"), Overlay: o.Params.Overlay, Ratio: o.Ratio,
		Rate: o.JourBest, P99: o.Latency.Redis.P99}, nil
}

// compareSection writes this run beside the -compare run: journey ÷ raw
// of each (each measured against its own run's raw consumer), and what
// the difference of configuration costs.
func (r *results) compareSection(p func(string, ...any)) {
	c := r.Compare
	if c == nil {
		return
	}
	overlay := r.Params.Overlay
	if overlay == "" {
		overlay = "defaults"
	}
	p("## Beside %s (%s)\n\n", c.Name, c.Overlay)
	p("| configuration | journey ÷ raw | journey events/s | p99 live (ms) |\n|---|---:|---:|---:|\n")
	p("| this run (%s) | %.2f | %.0f | %.1f |\n", overlay, r.Ratio, r.JourBest, r.Latency.Redis.P99)
	p("| %s (%s) | %.2f | %.0f | %.1f |\n\n", c.Name, c.Overlay, c.Ratio, c.Rate, c.P99)
	if c.Ratio > 0 {
		p("This run's throughput is %.0f%% of %s's (ratios to each run's own raw consumer).\n\n", 100*r.Ratio/c.Ratio, c.Name)
	}
}

// besideSection writes the -beside runs: this configuration's rate over
// the beside one's, each pair run back to back.
func (r *results) besideSection(p func(string, ...any)) {
	if len(r.Beside) == 0 {
		return
	}
	overlay := r.Params.Overlay
	if overlay == "" {
		overlay = "defaults"
	}
	p("## Back to back with %s\n\n", r.Params.Beside)
	p("Each pair ran the raw consumer, journey with `%s` read over this run's configuration, then journey as this run "+
		"configures it (%s), over the same topic, one after the other.\n\n", r.Params.Beside, overlay)
	p("| pair | raw events/s | beside (%s) events/s | this run events/s | this ÷ beside |\n|---|---:|---:|---:|---:|\n", r.Params.Beside)
	for i, b := range r.Beside {
		if i >= len(r.Journey) || i >= len(r.Raw) {
			break
		}
		p("| #%d | %.0f | %.0f | %.0f | %.2f |\n", i+1, r.Raw[i].Rate, b.Rate, r.Journey[i].Rate, r.Journey[i].Rate/b.Rate)
	}
	p("\n**This run's throughput is %.0f%% of the beside configuration's** (best %.0f ÷ best %.0f events/s; pairs %s).\n\n",
		100*r.JourBest/r.BesideBest, r.JourBest, r.BesideBest, report.Ratios(r.BesidePairs))
}

func (r *results) markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := r.Machine
	p("# journey end-to-end benchmark — %s\n\n", r.Issue)
	if len(r.Invalid) > 0 {
		p("**INVALID RUN — too few triggers, the figures below do not stand:** %s.\n\n", strings.Join(r.Invalid, "; "))
	}
	p("%s, %d cores, %s (CGO_ENABLED=%s), %s (kernel %s); Kafka %s (1 broker, KRaft), Redis %s, all on this machine over loopback.  \n",
		m.CPU, m.Cores, m.GoVersion, m.CGO, m.OS, m.Kernel, report.Dash(m.KafkaVersion), report.Dash(m.RedisVersion))
	p("Run %s, %.0f s in all. Workload: %s Segment events, %s customers, %d partitions, seed %d. Processors: %s.\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Seconds, report.Int(r.Params.Events), report.Int(r.Params.Customers),
		r.Params.Partitions, r.Params.Seed, strings.Join(r.Params.Processors, ", "))

	p("**journey ÷ raw kafka-go consumer: %.2f** (best of %d each; target ≥ %.1f). Back-to-back pairs: %s.  \n",
		r.Ratio, len(r.Raw), targetRatio, report.Ratios(r.Pairs))
	l := r.Latency
	p("**Event-to-Redis latency (Kafka append → Redis) at %s events/s: p50 %.1f ms, p99 %.1f ms** (target p99 ≤ %.0f ms); "+
		"a raw kafka-go consumer's Kafka append → decoded in the same run: p50 %.1f ms, p99 %.1f ms.  \n",
		report.Int(l.TargetRate), l.Redis.P50, l.Redis.P99, targetP99, r.Floor.Redis.P50, r.Floor.Redis.P99)
	p("**journey replay ÷ raw kafka-go consumer: %.2f** (%s events/s; target ≥ %.1f).\n\n",
		r.ReplayRatio, report.Int(int(r.Replay.Rate)), targetReplayRatio)

	p("| phase | events | first record → done | events/s | start-up | events/s incl. start-up | cores: this process / Kafka+Redis / other |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	pr := r.Produce
	p("| produce (1 generator, a sender per partition, acks=1) | %s | %.2f s | **%s** | – | – | %s |\n", report.Int(pr.Events), pr.Seconds,
		report.Int(int(pr.PerSecond)), pr.CPU)
	for i := range max(len(r.Raw), len(r.Journey)) {
		for _, run := range []*runResult{at(r.Raw, i), at(r.Journey, i)} {
			if run == nil {
				continue
			}
			name := "raw consumer group + encoding/json"
			if run.Name == "journey" {
				name = "journey (decode, fold, Pebble sync, Redis)"
			}
			p("| %s #%d | %s | %.2f s | **%s** | %.2f s | %s | %s |\n", name, i+1, report.Int(int(run.Events)),
				run.Seconds, report.Int(int(run.Rate)), run.Startup, report.Int(int(run.RateWithStartup)), run.CPU)
		}
	}
	if rp := r.Replay; rp.Events > 0 {
		p("| journey replay --from earliest --triggers off | %s | %.2f s | **%s** | (inside) | %s | %s |\n", report.Int(int(rp.Events)),
			rp.Seconds, report.Int(int(rp.Rate)), report.Int(int(rp.RateWithStartup)), rp.CPU)
	}
	p("\n")
	p("| journey run | triggers delivered | in Redis streams | context updates | context hashes | mean batch | mean commit | Pebble dir | warnings logged |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for i, run := range r.Journey {
		p("| #%d | %s | %s | %s | %s | %.0f records | %.2f ms | %.0f MB | %d |\n", i+1, report.Int(int(run.Triggers)),
			report.Int(int(run.RedisTriggers)), report.Int(int(run.Contexts)), report.Int(int(run.RedisContexts)),
			run.MeanBatch, run.MeanCommitMs, float64(run.StateBytes)/1e6, run.Warnings)
	}
	p("\n")
	p("| latency at %s events/s for %.0f s (achieved %s/s) | p50 | p90 | p99 | p99.9 | max | mean |\n",
		report.Int(l.TargetRate), l.SendSeconds, report.Int(int(l.AchievedRate)))
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	p("| Kafka append → Redis, ms (%s samples: %s triggers + %s contexts) | %.1f | %.1f | **%.1f** | %.1f | %.1f | %.1f |\n",
		report.Int(l.Samples), report.Int(int(l.Triggers)), report.Int(int(l.Contexts)),
		l.Redis.P50, l.Redis.P90, l.Redis.P99, l.Redis.P999, l.Redis.Max, l.Redis.Mean)
	p("| producer: due → broker ack, ms (before journey) | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
		l.ProduceAck.P50, l.ProduceAck.P90, l.ProduceAck.P99, l.ProduceAck.P999, l.ProduceAck.Max, l.ProduceAck.Mean)
	if f := r.Floor; f.Samples > 0 {
		p("| baseline, same producer and rate, own topic: Kafka append → raw kafka-go consumer decoded (encoding/json), ms | "+
			"%.1f | %.1f | **%.1f** | %.1f | %.1f | %.1f |\n", f.Redis.P50, f.Redis.P90, f.Redis.P99, f.Redis.P999, f.Redis.Max, f.Redis.Mean)
		p("| baseline's producer: due → broker ack, ms | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
			f.ProduceAck.P50, f.ProduceAck.P90, f.ProduceAck.P99, f.ProduceAck.P999, f.ProduceAck.Max, f.ProduceAck.Mean)
	}
	if len(l.Stages) > 0 {
		p("\nWhere the time goes: the age of a round's last record (Kafka append time) as the batch reaches each stage " +
			"(`journey_record_age_seconds`, quantiles interpolated in buckets ×1.25 apart), then the Redis figure above per delivery:\n\n")
		p("| stage, ms since Kafka append | batches | p50 | p90 | p99 | mean |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, st := range l.Stages {
			p("| %s | %s | %.1f | %.1f | %.1f | %.1f |\n", stageNames[st.Stage], report.Int(int(st.Batches)), st.P50, st.P90, st.P99, st.Mean)
		}
		p("| delivered: Redis accepted (per trigger or context, as above) | %s | %.1f | %.1f | %.1f | %.1f |\n",
			report.Int(l.Samples), l.Redis.P50, l.Redis.P90, l.Redis.P99, l.Redis.Mean)
	}
	p("\nLive phase: drained %.2f s after the last send; cores this process / Kafka+Redis / other: %s; %d warnings logged; "+
		"%s rounds of %.1f records on average, %.2f ms each on average (Pebble batch, %s).\n",
		l.DrainSeconds, l.CPU, l.Warnings, report.Int(int(l.Batches)), l.MeanBatch, l.MeanCommitMs,
		map[bool]string{true: "with fsync", false: "no fsync: state.sync is off while the changelog is on"}[r.Params.StateSync])
	if f := r.Floor; f.Samples > 0 {
		p("Baseline phase (just before, journey idle): %s events in %.0f s; cores this process / Kafka+Redis / other: %s.\n",
			report.Int(f.Samples), f.SendSeconds, f.CPU)
	}
	if len(r.Notes) > 0 {
		p("\nNotes:\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	r.besideSection(p)
	r.compareSection(p)
	r.apiSection(p)
}

func at(rs []runResult, i int) *runResult {
	if i < len(rs) {
		return &rs[i]
	}
	return nil
}

func (r *results) write(dir, name string) error {
	return report.Write(dir, name, r, r.markdown)
}

// stageNames describe journey_record_age_seconds's stages.
var stageNames = map[string]string{
	"fetched":    "fetched: the shared fetcher decoded the records",
	"started":    "started: the worker began folding the group (age of the newest record it had then)",
	"logged":     "logged: the changelog acknowledged the batch (acks=all)",
	"committed":  "committed: the Pebble batch is committed",
	"dispatched": "dispatched: the partition's dispatcher handed the entries to the sink (age of the newest record behind them)",
}

// title names what the run measured: the core pipeline (the throughput
// targets are for it, with its one processor) or every processor.
func title(procs []string) string {
	switch {
	case procs == nil:
		return "every processor"
	case len(procs) == 1 && procs[0] == "interest":
		return "core pipeline (one processor: interest)"
	}
	return "processors " + strings.Join(procs, ", ")
}

func notes(r *results) []string {
	return []string{
		"Rates count from the first record received (raw) or fetched (journey) to the last record decoded (raw) or to " +
			"every offset committed in Pebble with every outbox drained to Redis (journey); start-up (group join, " +
			"topic checks) is shown apart. Both read the same topic, back to back, alternately, in one process that runs " +
			"with journey's garbage-collector settings from the start (GOGC 400 within a soft memory limit, unless GOGC " +
			"or GOMEMLIMIT is set), the raw consumer included.",
		"journey is wired as `journey run` wires it: config.Default (state.sync " + strconv.FormatBool(r.Params.StateSync) + ", batch.max_records " + strconv.Itoa(r.Params.MaxBatch) + " / max_bytes " + strconv.Itoa(r.Params.MaxBatchBytes>>20) + " MiB / backlog_wait " + r.Params.BacklogWait + ", " +
			"fetch 4 MiB / 500 ms), every processor with its default section, the real decoder and Redis sink; no admin server. " +
			"Changelog: " + map[bool]string{true: "on (every round is first appended to the compacted changelog topic, acks=all)", false: "off (-changelog=false)"}[changelogEnabled] + "." + overlayNote(r.Params.Overlay),
		"Latency runs from the Kafka record timestamp, which the topic sets when the broker appends the record " +
			"(message.timestamp.type=LogAppendTime; milliseconds, so a sample may read up to 1 ms high), to the " +
			"dispatcher's report once Redis accepted the pipeline: the time an event spends in journey, fetch " +
			"included. A trigger counts from its causing record; a context update from the last record of its batch " +
			"(pkg/pipeline), so for a customer whose event was earlier in the batch it reads low by up to the batch's span.",
		"The latency producer batches like a default Java client (linger.ms=5, max.in.flight 1): every 5 ms, one produce request " +
			"(acks=1) carrying every event due meanwhile, a record batch per partition; the time from an event falling due to its acknowledgement " +
			"is shown apart as 'producer: due → broker ack' (it is before journey sees the event, and on this machine " +
			"it shares the two cores with the broker and journey).",
		"The latency baseline runs just before, with journey caught up and idle: the same producer at the same rate into a " +
			"topic of its own (same partitions, LogAppendTime), read by a kafka-go Reader per partition configured as " +
			"journey's fetch is and the raw consumer's (min 1 byte, max wait 500 ms), each value decoded with encoding/json; " +
			"its Kafka append → decoded times are what the broker and a plain consumer take on this machine before any " +
			"processing, so the part of journey's figure that is journey's is roughly the difference.",
		"The replay phase runs journey replay --from earliest --triggers off (pkg/replay, as the command runs it: no " +
			"consumer group, every partition at once, batches of 20,000, no fsync per batch and one flush at the end) " +
			"into a new state dir over the whole topic, the latency phase's events included; its rate counts from the " +
			"command's start (no group to join) to the flush, and its ratio is to the best raw consumer rate above.",
		"Kafka, Redis, the producer and journey share this machine's cores. 'cores' is the average number of cores busy " +
			"in this process (journey or the raw consumer, plus the bench's producer), in the rig's Kafka and Redis, and " +
			"in anything else: a high 'other' means another job shared the machine and the run is noisy. The bench " +
			"reports; it does not pass or fail on timing.",
	}
}

// overlayNote names the -set overlay, when there was one.
func overlayNote(y string) string {
	if y == "" {
		return ""
	}
	return " Read over the defaults (-set): `" + y + "`."
}
