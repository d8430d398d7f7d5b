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

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// view is journey dev's live terminal view. It reads the triggers from the
// Redis trigger streams with XREAD, as a downstream service would (so what
// it shows went the whole way: Kafka, fold, Pebble, outbox, Redis), and the
// pipeline's counters from its Prometheus registry.
//
// On a terminal the status line is redrawn in place every second under the
// scrolling triggers; otherwise it is printed as a plain line every five
// seconds.
type view struct {
	out     io.Writer
	tty     bool
	rdb     *redis.Client
	prefix  string
	reg     *prometheus.Registry
	traffic *trafficStats
	rate    float64

	streams map[string]string // stream -> last entry id read
	byRule  map[string]int
	total   int
	// Trigger lines printed in the current second, and those left out.
	shown, hidden int
	second        time.Time
	// The figures at the previous status line, for rates.
	lastAt                time.Time
	lastEvents, lastTotal int
	statusShown           bool
}

// Bounds of what the view prints.
const (
	maxLinesPerSecond = 12
	statusEveryTTY    = time.Second
	statusEveryPlain  = 5 * time.Second
	streamScanEvery   = time.Second
	readBlock         = 500 * time.Millisecond
)

func newView(out io.Writer, rdb *redis.Client, prefix string, reg *prometheus.Registry, traffic *trafficStats, rate float64) *view {
	return &view{
		out: out, tty: isTerminal(out), rdb: rdb, prefix: prefix, reg: reg, traffic: traffic, rate: rate,
		streams: map[string]string{}, byRule: map[string]int{},
	}
}

// devBanner is what the view prints first.
type devBanner struct {
	kafka, redis, admin string
	api                 string // "" when api.addr is off
	topics              []string
	dlq                 string
	partitions          int
	prefix              string
	rate                float64
	customers           int
	seed                uint64
}

func (v *view) banner(b devBanner) {
	_, redisPort, _ := strings.Cut(b.redis, ":")
	w := v.out
	fmt.Fprintln(w, "journey dev: the journey pipeline (Kafka -> Pebble -> Redis) on an in-process Kafka broker and Redis")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  Kafka    %s   topics %s (%d partitions), dead letters %s\n", b.kafka, strings.Join(b.topics, ", "), b.partitions, b.dlq)
	fmt.Fprintf(w, "  Redis    %s   streams %striggers:<channel>, hashes %sctx:<customer>\n", b.redis, b.prefix, b.prefix)
	fmt.Fprintf(w, "  admin    http://%s/metrics  /readyz\n", b.admin)
	if b.api != "" {
		fmt.Fprintf(w, "  page     http://%s/   (one customer's journey; API: /v1/customers/{id})\n", b.api)
	}
	if b.rate > 0 {
		fmt.Fprintf(w, "  traffic  %g events/s from %d simulated customers (seed %d)\n", b.rate, b.customers, b.seed)
	} else {
		fmt.Fprintln(w, "  traffic  none (--rate 0): produce your own events with kcat")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Watch the real streams with any client:")
	fmt.Fprintf(w, "  kcat -b %s -L\n", b.kafka)
	fmt.Fprintf(w, "  kcat -b %s -C -t %s -o end -f '%%k %%s\\n'\n", b.kafka, b.topics[0])
	fmt.Fprintf(w, "  redis-cli -p %s XREAD BLOCK 0 STREAMS %striggers:email '$'\n", redisPort, b.prefix)
	fmt.Fprintf(w, "  redis-cli -p %s HGETALL %sctx:<customer>\n", redisPort, b.prefix)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Triggers as they reach Redis (time, rule, channel, customer, reason, detail). Ctrl-C to stop.")
}

// run follows the trigger streams until ctx is done.
func (v *view) run(ctx context.Context) error {
	v.lastAt = time.Now()
	every := statusEveryPlain
	if v.tty {
		every = statusEveryTTY
	}
	nextStatus := time.Now().Add(every)
	var nextScan time.Time
	for ctx.Err() == nil {
		if time.Now().After(nextScan) {
			if err := v.scan(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("view: %w", err)
			}
			nextScan = time.Now().Add(streamScanEvery)
		}
		if err := v.read(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("view: %w", err)
		}
		if time.Now().After(nextStatus) {
			v.status()
			nextStatus = time.Now().Add(every)
		}
	}
	return nil
}

// scan finds the trigger streams: one per channel, created by the first
// trigger on it.
func (v *view) scan(ctx context.Context) error {
	iter := v.rdb.Scan(ctx, 0, v.prefix+"triggers:*", 100).Iterator()
	for iter.Next(ctx) {
		if _, ok := v.streams[iter.Val()]; !ok {
			v.streams[iter.Val()] = "0-0"
		}
	}
	return iter.Err()
}

// read reads what the streams received since the last read, waiting up to
// readBlock for something.
func (v *view) read(ctx context.Context) error {
	if len(v.streams) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(readBlock):
		}
		return nil
	}
	names := slices.Sorted(maps.Keys(v.streams))
	args := make([]string, 0, 2*len(names))
	args = append(args, names...)
	for _, n := range names {
		args = append(args, v.streams[n])
	}
	res, err := v.rdb.XRead(ctx, &redis.XReadArgs{Streams: args, Count: 500, Block: readBlock}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range res {
		for _, m := range s.Messages {
			v.streams[s.Stream] = m.ID
			v.trigger(m.Values)
		}
	}
	return nil
}

// trigger counts one trigger and prints it, unless this second's lines
// are used up.
func (v *view) trigger(f map[string]any) {
	str := func(k string) string { s, _ := f[k].(string); return s }
	rule := str("rule")
	v.byRule[rule]++
	v.total++
	if now := time.Now().Truncate(time.Second); !now.Equal(v.second) {
		v.second, v.shown = now, 0
	}
	if v.shown >= maxLinesPerSecond {
		v.hidden++
		return
	}
	v.shown++
	at := str("at")
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		at = t.Local().Format("15:04:05")
	}
	v.line(fmt.Sprintf("%s  %-18s %-12s %-22s %-18s %s", at, rule, str("channel"), str("customer_id"), str("reason"), detail(str("payload"))))
}

// detailKeys are the payload fields the view shows, in order: ids, codes
// and figures (triggers carry no personal data).
var detailKeys = []string{"category", "views", "cart_id", "items", "value", "currency", "reasons", "from", "to", "score", "days"}

// detail summarises a trigger's JSON payload on one line.
func detail(payload string) string {
	var p map[string]any
	if json.Unmarshal([]byte(payload), &p) != nil {
		return ""
	}
	var parts []string
	for _, k := range detailKeys {
		switch x := p[k].(type) {
		case nil:
		case []any:
			s := make([]string, len(x))
			for i, e := range x {
				s[i] = fmt.Sprint(e)
			}
			parts = append(parts, k+"="+strings.Join(s, ","))
		case float64:
			parts = append(parts, fmt.Sprintf("%s=%g", k, x))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, x))
		}
	}
	return strings.Join(parts, " ")
}

// line prints one line above the status line.
func (v *view) line(s string) {
	if v.tty && v.statusShown {
		fmt.Fprint(v.out, "\r\033[K")
		v.statusShown = false
	}
	fmt.Fprintln(v.out, s)
}

// status prints the rates of events and triggers and the pipeline's
// counters.
func (v *view) status() {
	now := time.Now()
	secs := now.Sub(v.lastAt).Seconds()
	st := v.traffic.get()
	m := gather(v.reg)
	events := float64(st.Events-v.lastEvents) / secs
	triggers := float64(v.total-v.lastTotal) / secs
	folded, dlq := int(m.sum("journey_events_folded_total")), int(m.sum("journey_dlq_total"))
	sup := m.byLabel("journey_triggers_suppressed_total", "reason")
	merged := m.byLabel("journey_identity_total", "what")["merged"]
	var s string
	if v.tty {
		// One short line, redrawn in place: it must not wrap.
		s = fmt.Sprintf("[%s] events %.0f/s, %d folded, %d merged · triggers %.1f/s, %d in Redis · %d suppressed · %d dead letters",
			now.Format("15:04:05"), events, folded, merged, triggers, v.total, sum(sup), dlq)
	} else {
		s = fmt.Sprintf("[%s] events %.1f/s", now.Format("15:04:05"), events)
		if v.rate > 0 {
			s += fmt.Sprintf(" (target %g/s)", v.rate)
		}
		s += fmt.Sprintf(", %d produced, %d folded, %d dead letters, %d visitors merged into known customers · triggers %.1f/s, %d in Redis",
			st.Events, folded, dlq, merged, triggers, v.total)
		if v.total > 0 {
			s += " (" + counts(v.byRule) + ")"
		}
		if len(sup) > 0 {
			s += " · suppressed by policy: " + counts(sup)
		}
	}
	if v.hidden > 0 {
		if !v.tty {
			s += fmt.Sprintf(" · %d trigger lines not shown", v.hidden)
		}
		v.hidden = 0
	}
	v.lastAt, v.lastEvents, v.lastTotal = now, st.Events, v.total
	if v.tty {
		fmt.Fprint(v.out, "\r\033[K"+s)
		v.statusShown = true
		return
	}
	fmt.Fprintln(v.out, s)
}

// summary prints the totals when dev stops.
func (v *view) summary(elapsed time.Duration, stateDir string) {
	if v.tty && v.statusShown {
		fmt.Fprint(v.out, "\r\033[K")
	}
	st := v.traffic.get()
	fmt.Fprintf(v.out, "journey dev stopped after %s: %d events produced (%.1f/s), %d triggers",
		elapsed.Round(time.Second), st.Events, st.Achieved(), v.total)
	if v.total > 0 {
		fmt.Fprintf(v.out, " (%s)", counts(v.byRule))
	}
	fmt.Fprintln(v.out)
	if stateDir != "" {
		fmt.Fprintf(v.out, "state kept in %s\n", stateDir)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// counts formats a count per name, by name: "a 3, b 1".
func counts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// metricFamilies indexes gathered metrics by name.
type metricFamilies map[string]*dto.MetricFamily

func gather(reg *prometheus.Registry) metricFamilies {
	mfs, err := reg.Gather()
	if err != nil {
		return nil
	}
	out := make(metricFamilies, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// sum adds up a counter's series.
func (m metricFamilies) sum(name string) float64 {
	total := 0.0
	for _, s := range m[name].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	return total
}

// byLabel adds up a counter's series by the value of one label.
func (m metricFamilies) byLabel(name, label string) map[string]int {
	out := map[string]int{}
	for _, s := range m[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += int(s.GetCounter().GetValue())
			}
		}
	}
	return out
}
