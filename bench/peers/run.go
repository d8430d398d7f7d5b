package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/bench/internal/procstat"
	"github.com/journey-dev/journey/bench/peers/workload"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/processors/interest"
)

// bench is what every implementation's run shares: the broker, the input,
// and what the reference fold expects.
type bench struct {
	opts      options
	broker    *broker
	rdb       *redis.Client
	stamp     string
	work      string // temporary folder: state, dumps, logs
	bulkTopic string
	dlqTopic  string
	bulk      int64    // records in the bulk topic
	live      []record // the live stream, the same for every implementation
	// The reference fold's triggers, by causing event id, and journey's
	// trigger ids of the same triggers.
	wantTriggers map[string]bool
	wantLive     int
	journeyIDs   map[string]string // trigger id -> event id
	sampleFile   string
	want         map[string]workload.Snapshot // the sample's states, by customer id
}

// impl is one implementation under test.
type impl struct {
	name  string
	label string
	// sink is where its triggers go: "" (none: the raw consumer), "kafka"
	// (a topic) or "redis" (journey's trigger stream).
	sink    string
	command func(b *bench, r *runSetup) (bin string, args []string)
}

// runSetup names what one run uses.
type runSetup struct {
	group, liveTopic, triggerTopic, stateDir, dump string
	marks                                          []int64
}

func (r *runSetup) marksFlag() string {
	s := make([]string, len(r.marks))
	for i, m := range r.marks {
		s[i] = strconv.FormatInt(m, 10)
	}
	return strings.Join(s, ",")
}

// result is one implementation's figures and checks.
type result struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Throughput over the bulk topic.
	Events        int64   `json:"events"`
	StartupSec    float64 `json:"startup_seconds"` // process start -> first record
	Seconds       float64 `json:"seconds"`         // first record -> last record processed
	Rate          float64 `json:"events_per_second"`
	CPUSeconds    float64 `json:"cpu_seconds"` // of the process, first record -> last
	CPUPerMillion float64 `json:"cpu_seconds_per_million_events"`
	Cores         cores   `json:"cores"`
	PeakRSSBulk   int64   `json:"peak_rss_bytes_bulk"` // VmHWM at the end of the bulk
	PeakRSS       int64   `json:"peak_rss_bytes"`      // VmHWM before it was stopped
	CPUTotal      float64 `json:"cpu_seconds_total"`   // the process's whole life, start-up included
	VsRaw         float64 `json:"ratio_to_raw"`        // events/s ÷ the raw consumer's
	JourneyOver   float64 `json:"journey_over_this"`   // journey's events/s ÷ this one's
	// Latency phase (not for the raw consumer).
	Latency *latency `json:"latency,omitempty"`
	// Checks.
	Triggers     int64              `json:"triggers"`
	WantTriggers int64              `json:"want_triggers"`
	SampleSize   int                `json:"sample_customers"`
	Mismatches   []string           `json:"mismatches,omitempty"`
	Stats        map[string]float64 `json:"stats,omitempty"`
	Log          string             `json:"-"`
}

// cores is the CPU use during the throughput window, in cores busy on
// average: the process, the rig's Kafka and Redis, and everything else.
type cores struct {
	Process  float64 `json:"process"`
	Services float64 `json:"kafka_redis"`
	Other    float64 `json:"other"`
}

type latency struct {
	Rate     int       `json:"target_events_per_second"`
	Achieved float64   `json:"achieved_events_per_second"`
	Events   int       `json:"events"`
	Samples  int       `json:"samples"`
	Seen     quantiles `json:"event_to_output_ms"`
	// Journey only: to the Redis entry's own time (its id), without the
	// bench's XREAD.
	RedisStamp *quantiles `json:"event_to_redis_entry_ms,omitempty"`
}

type quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func quantilesOf(d []time.Duration) quantiles {
	if len(d) == 0 {
		return quantiles{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return quantiles{P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run runs one implementation: the bulk topic from the start, then (with a
// sink) the live stream at a fixed rate, then the checks.
func (b *bench) run(ctx context.Context, im impl) (result, error) {
	res := result{Name: im.name, Label: im.label, Events: b.bulk}
	r := &runSetup{group: b.group(im.name), marks: []int64{1, b.bulk}}
	dir := filepath.Join(b.work, im.name)
	r.stateDir, r.dump = filepath.Join(dir, "state"), filepath.Join(dir, "dump.jsonl")
	if err := os.MkdirAll(r.stateDir, 0o755); err != nil {
		return res, err
	}
	// Every implementation reads its live topic too, the raw consumer
	// included (it stays empty for it): the same number of partitions to
	// fetch from.
	r.liveTopic = b.liveTopic(im.name)
	if im.sink != "" {
		r.marks = append(r.marks, b.bulk+int64(len(b.live)))
	}
	if im.sink == "kafka" {
		r.triggerTopic = b.triggerTopic(im.name)
	}
	bin, args := im.command(b, r)
	res.Log = filepath.Join(dir, "log")
	c, err := startChild(im.name, bin, args, res.Log)
	if err != nil {
		return res, err
	}
	defer c.kill()
	pid := c.cmd.Process.Pid

	first, err := c.waitMark(ctx, 1, 3*time.Minute)
	if err != nil {
		return res, err
	}
	last, err := c.waitMark(ctx, b.bulk, b.opts.runTimeout)
	if err != nil {
		return res, err
	}
	wall := last.wall.Sub(first.wall).Seconds()
	res.StartupSec = first.at.Sub(c.started).Seconds()
	res.Seconds = last.at.Sub(first.at).Seconds()
	res.Rate = float64(b.bulk) / res.Seconds
	res.CPUSeconds = last.cpu - first.cpu
	res.CPUPerMillion = res.CPUSeconds / float64(b.bulk) * 1e6
	res.Cores = cores{Process: res.CPUSeconds / wall, Services: (last.services - first.services) / wall}
	res.Cores.Other = max(0, (last.busy-first.busy)/wall-res.Cores.Process-res.Cores.Services)
	res.PeakRSSBulk = peakRSS(pid)
	fmt.Printf("  %s: %d records in %.2fs: %.0f events/s, %.2f CPU s per M events, peak RSS %.0f MB (start-up %.1fs)\n",
		im.name, b.bulk, res.Seconds, res.Rate, res.CPUPerMillion, mb(res.PeakRSSBulk), res.StartupSec)

	var outputs []string // the event ids of the triggers
	if im.sink != "" {
		if res.Latency, err = b.latency(ctx, c, im, r); err != nil {
			return res, err
		}
		l := res.Latency
		fmt.Printf("  %s: latency at %d events/s: %d samples, p50 %.1f ms, p99 %.1f ms\n", im.name, l.Rate, l.Samples, l.Seen.P50, l.Seen.P99)
	}
	res.PeakRSS = peakRSS(pid)
	res.CPUTotal = procstat.ProcessCPU(pid)
	if err := c.stop(90 * time.Second); err != nil {
		return res, err
	}
	res.Stats = c.statsCopy()
	if im.sink == "" {
		return res, nil
	}

	switch im.sink {
	case "kafka":
		outputs, err = b.kafkaTriggers(ctx, r.triggerTopic)
	case "redis":
		outputs, err = b.redisTriggers(ctx)
	}
	if err != nil {
		return res, err
	}
	res.Triggers, res.WantTriggers = int64(len(outputs)), int64(len(b.wantTriggers))
	res.Mismatches = append(res.Mismatches, b.checkTriggers(outputs)...)
	sample, problems, err := b.checkSample(r.dump)
	if err != nil {
		return res, err
	}
	res.SampleSize = sample
	res.Mismatches = append(res.Mismatches, problems...)
	if im.name == "journey" {
		for _, k := range []string{"dlq_total", "events_duplicate_total", "sink_errors_total"} {
			if v := res.Stats[k]; v != 0 {
				res.Mismatches = append(res.Mismatches, fmt.Sprintf("journey_%s is %v, want 0", k, v))
			}
		}
		if got, want := res.Stats["events_folded_total"], float64(r.marks[len(r.marks)-1]); got != want {
			res.Mismatches = append(res.Mismatches, fmt.Sprintf("journey folded %v events, want %v", got, want))
		}
	}
	return res, nil
}

// group is the consumer group (Kafka Streams: application.id) of an
// implementation.
func (b *bench) group(name string) string { return fmt.Sprintf("peers-%s-%s", name, b.stamp) }

// liveTopic is the topic of an implementation's live stream.
func (b *bench) liveTopic(name string) string { return fmt.Sprintf("peers.live.%s.%s", name, b.stamp) }

// triggerTopic is the trigger topic of a peer.
func (b *bench) triggerTopic(name string) string {
	return fmt.Sprintf("peers.triggers.%s.%s", name, b.stamp)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// latency produces the live stream at the fixed rate while the
// implementation runs caught up, and measures, for every trigger the
// stream causes, the time from the broker appending the causing event to
// the bench's consumer receiving the trigger (from the trigger topic, or
// from journey's Redis stream with XREAD).
func (b *bench) latency(ctx context.Context, c *child, im impl, r *runSetup) (*latency, error) {
	l := &latency{Rate: b.opts.rate, Events: len(b.live)}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Room for every trigger, so that the readers never wait for this loop.
	outs := make(chan output, len(b.wantTriggers)+1024)
	readErr := make(chan error, 1)
	switch im.sink {
	case "kafka":
		from, err := b.broker.endOffsets(ctx, r.triggerTopic, b.opts.partitions)
		if err != nil {
			return nil, err
		}
		go func() { readErr <- b.broker.readTopic(rctx, r.triggerTopic, from, outs) }()
	case "redis":
		last := "0-0"
		xs, err := b.rdb.XRevRangeN(ctx, b.streamKey(), "+", "-", 1).Result()
		if err != nil {
			return nil, err
		}
		if len(xs) > 0 {
			last = xs[0].ID
		}
		go func() { readErr <- b.xread(rctx, last, outs) }()
	}
	appended, achieved, err := b.broker.pacedSend(ctx, r.liveTopic, b.opts.partitions, b.live, b.opts.rate)
	if err != nil {
		return nil, err
	}
	l.Achieved = achieved
	if _, err := c.waitMark(ctx, r.marks[len(r.marks)-1], 3*time.Minute); err != nil {
		return nil, err
	}
	var seen, stamped []time.Duration
	deadline := time.After(60 * time.Second)
	for len(seen) < b.wantLive {
		select {
		case o := <-outs:
			id, entryMs := b.eventID(im.sink, o.value)
			i, ok := liveIndex(id)
			if !ok || i >= len(appended) {
				continue // a trigger of the bulk flushed late
			}
			seen = append(seen, o.seen.Sub(appended[i]))
			if entryMs > 0 {
				stamped = append(stamped, time.UnixMilli(entryMs).Sub(appended[i]))
			}
		case err := <-readErr:
			return nil, fmt.Errorf("%s: reading the triggers: %v", im.name, err)
		case <-deadline:
			return nil, fmt.Errorf("%s: %d of %d triggers of the live stream seen 60s after it was processed", im.name, len(seen), b.wantLive)
		}
	}
	l.Samples = len(seen)
	l.Seen = quantilesOf(seen)
	if len(stamped) > 0 {
		q := quantilesOf(stamped)
		l.RedisStamp = &q
	}
	return l, nil
}

// liveIndex returns the index in the live stream of an event id "l-<n>".
func liveIndex(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, "l-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n - 1, err == nil && n >= 1
}

// kafkaTrigger is the trigger record of the peers.
type kafkaTrigger struct {
	CustomerID string `json:"customer_id"`
	EventID    string `json:"event_id"`
}

// eventID returns the causing event id of an output, and for a Redis
// entry, its time (Unix ms).
func (b *bench) eventID(sink string, v []byte) (string, int64) {
	if sink == "kafka" {
		var t kafkaTrigger
		_ = json.Unmarshal(v, &t)
		return t.EventID, 0
	}
	tid, entry, _ := strings.Cut(string(v), " ")
	msStr, _, _ := strings.Cut(entry, "-")
	ms, _ := strconv.ParseInt(msStr, 10, 64)
	return b.journeyIDs[tid], ms
}

// redisPrefix is journey's Redis prefix: one per run, as journey
// remembers the trigger ids it delivered (and would not deliver a rerun's).
func (b *bench) redisPrefix() string { return "peers-" + b.stamp + ":" }

func (b *bench) streamKey() string {
	return redissink.Config{Prefix: b.redisPrefix()}.StreamKey(b.opts.target)
}

// xread follows journey's trigger stream after id; each output's value is
// "<trigger id> <entry id>".
func (b *bench) xread(ctx context.Context, id string, out chan<- output) error {
	for ctx.Err() == nil {
		res, err := b.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{b.streamKey(), id}, Count: 1000, Block: 200 * time.Millisecond}).Result()
		if err == redis.Nil {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		for _, s := range res {
			for _, m := range s.Messages {
				id = m.ID
				tid, _ := m.Values[redissink.FieldID].(string)
				select {
				case out <- output{value: []byte(tid + " " + m.ID), seen: now}:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
	return nil
}

// kafkaTriggers reads the whole trigger topic and returns the causing
// event ids.
func (b *bench) kafkaTriggers(ctx context.Context, topic string) ([]string, error) {
	ends, err := b.broker.endOffsets(ctx, topic, b.opts.partitions)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, e := range ends {
		total += e
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outs := make(chan output, 4096)
	readErr := make(chan error, 1)
	go func() { readErr <- b.broker.readTopic(rctx, topic, make([]int64, b.opts.partitions), outs) }()
	ids := make([]string, 0, total)
	timeout := time.After(2 * time.Minute)
	for int64(len(ids)) < total {
		select {
		case o := <-outs:
			id, _ := b.eventID("kafka", o.value)
			ids = append(ids, id)
		case err := <-readErr:
			return nil, fmt.Errorf("read %s: %v", topic, err)
		case <-timeout:
			return nil, fmt.Errorf("read %s: %d of %d records in 2 min", topic, len(ids), total)
		}
	}
	return ids, nil
}

// redisTriggers reads journey's whole trigger stream and returns the
// causing event ids ("?<trigger id>" for an id the reference does not
// know).
func (b *bench) redisTriggers(ctx context.Context) ([]string, error) {
	info, err := b.rdb.XInfoStream(ctx, b.streamKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("XINFO STREAM %s: %w", b.streamKey(), err)
	}
	var ids []string
	from := "-"
	for {
		xs, err := b.rdb.XRangeN(ctx, b.streamKey(), from, "+", 10_000).Result()
		if err != nil {
			return nil, err
		}
		for _, m := range xs {
			tid, _ := m.Values[redissink.FieldID].(string)
			id, ok := b.journeyIDs[tid]
			if !ok {
				id = "?" + tid
			}
			ids = append(ids, id)
		}
		if len(xs) < 10_000 {
			break
		}
		from = "(" + xs[len(xs)-1].ID
	}
	if int64(len(ids)) != info.EntriesAdded {
		return nil, fmt.Errorf("%s: %d entries added, %d in the stream (trimmed? raise redis.stream_max_len)", b.streamKey(),
			info.EntriesAdded, len(ids))
	}
	return ids, nil
}

// checkTriggers compares the triggers' causing events with the reference.
func (b *bench) checkTriggers(ids []string) []string {
	var problems []string
	seen := make(map[string]bool, len(ids))
	var dups, unknown int
	for _, id := range ids {
		switch {
		case !b.wantTriggers[id]:
			unknown++
			if unknown <= 3 {
				problems = append(problems, fmt.Sprintf("trigger caused by %q: the reference fired none", id))
			}
		case seen[id]:
			dups++
		}
		seen[id] = true
	}
	if dups > 0 {
		problems = append(problems, fmt.Sprintf("%d triggers written twice", dups))
	}
	if unknown > 3 {
		problems = append(problems, fmt.Sprintf("%d unexpected triggers in all", unknown))
	}
	if missing := len(b.wantTriggers) - (len(seen) - unknown); missing > 0 {
		problems = append(problems, fmt.Sprintf("%d of the reference's %d triggers missing", missing, len(b.wantTriggers)))
	}
	return problems
}

// checkSample compares the dumped states with the reference's.
func (b *bench) checkSample(path string) (int, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, fmt.Errorf("the sample's states: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var problems []string
	n, bad := 0, 0
	got := map[string]bool{}
	for sc.Scan() {
		var s workload.Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return n, nil, fmt.Errorf("%s: %w", path, err)
		}
		n++
		got[s.Customer] = true
		if s.Events == nil {
			s.Events = map[string]int64{}
		}
		if s.Categories == nil {
			s.Categories = map[string]workload.CategorySnapshot{}
		}
		want, ok := b.want[s.Customer]
		if ok && reflect.DeepEqual(s, want) {
			continue
		}
		bad++
		if bad <= 3 {
			g, _ := json.Marshal(s)
			w, _ := json.Marshal(want)
			problems = append(problems, fmt.Sprintf("customer %s:\n      got  %s\n      want %s", s.Customer, g, w))
		}
	}
	if err := sc.Err(); err != nil {
		return n, nil, err
	}
	if bad > 3 {
		problems = append(problems, fmt.Sprintf("%d of %d sample customers differ in all", bad, n))
	}
	if len(got) != len(b.want) {
		problems = append(problems, fmt.Sprintf("%d of the %d sample customers dumped", len(got), len(b.want)))
	}
	return n, problems, nil
}

// expect records a trigger of the reference fold.
func (b *bench) expect(t workload.Trigger) {
	b.wantTriggers[t.EventID] = true
	b.journeyIDs[journey.TriggerID(interest.Rule, workload.CustomerID(t.Customer), t.EventID)] = t.EventID
}
