package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/journey-dev/journey/bench/internal/promsum"
	"github.com/journey-dev/journey/bench/internal/report"
	"github.com/journey-dev/journey/pkg/admin"
	"github.com/journey-dev/journey/pkg/api"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// apiRoute is the route the API phase asks, as journey_api_* label it.
const apiRoute = "GET /v1/customers/{id}"

// apiResult is the API phase (-api-rps): the latency phase run a second
// time with an open-loop HTTP load on GET /v1/customers/{id}, beside the
// first run without it, and the web page's load time (pageResult).
type apiResult struct {
	TargetRPS int `json:"target_requests_per_second"`
	// Requests were scheduled every 1/TargetRPS s for Seconds, all sent.
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	// Codes counts the answers by HTTP status ("error": no answer).
	Codes map[string]int `json:"codes"`
	// Latency is from each request's scheduled send time to its whole
	// body read, ms: a stall delays every request scheduled behind it,
	// and each counts its wait (no coordinated omission).
	Latency quantiles `json:"latency_ms"`
	// Server is journey_api_request_seconds of the route's 200s over the
	// phase (the handler's own time; quantiles interpolated in buckets).
	Server stageAge `json:"server_ms"`
	// LateSends counts requests sent more than 1 ms after their schedule
	// (the generator itself fell behind; their wait is in Latency).
	LateSends int     `json:"late_sends"`
	MeanBytes float64 `json:"mean_response_bytes"`
	// Without and With are the latency phase without API load (the run's
	// Latency) and with it; P99Ratio is With's event-to-Redis p99 over
	// Without's.
	Without  quantiles     `json:"pipeline_without_api_ms"`
	With     latencyResult `json:"pipeline_with_api"`
	P99Ratio float64       `json:"pipeline_p99_ratio"`
	Page     *pageResult   `json:"page,omitempty"`

	samples []time.Duration
}

// Targets of issue 24.
const (
	targetAPIP99      = 5.0 // ms at 500 requests/s
	targetPipelineP99 = 1.2 // with ÷ without
	targetPageMs      = 200.0
)

// serveAPI serves the instance's read-side API (pkg/api) as journey run
// serves it on one instance without a token, on a free loopback port,
// until the instance stops; it returns the base URL.
func (in *instance) serveAPI() (string, error) {
	h, err := api.NewHandler(in.store, in.engine.Processors(), in.reg)
	if err != nil {
		return "", err
	}
	if in.cfg.Identity.Enabled {
		h.SetCluster(oneInstance{in.p}, http.DefaultClient, "http") // as serveAPI in cmd/journey/run.go
	}
	srv, err := api.Listen("127.0.0.1:0", h, admin.Security{})
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.stopAPI = func() { cancel() }
	go func() { _ = srv.Serve(ctx) }()
	return "http://" + srv.Addr(), nil
}

// oneInstance is cmd/journey's apiCluster for a group of one: the
// pipeline's partitions, all of them local, and no other owner.
type oneInstance struct{ p *pipeline.Pipeline }

func (c oneInstance) Partition(id string) (int, bool) {
	n := c.p.Partitions()
	if n == 0 {
		return 0, false
	}
	return pipeline.PartitionOf(id, n), true
}

func (c oneInstance) Local(p int) (string, bool) {
	st, ok := c.p.Status().Partitions[p]
	return st.State, ok
}

func (oneInstance) Owner(context.Context, int) (string, error) {
	return "", errors.New("a group of one instance: no other owner")
}

// apiLoad is an open-loop load on base's customer route: request i is due
// at start + i/rps whatever the answers before it, for ids pick returns.
type apiLoad struct {
	rps  int
	base string
	pick func(*rand.Rand) string
	c    *http.Client

	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	res  apiResult
	wg   sync.WaitGroup
}

func startAPILoad(base string, rps int, seed uint64, pick func(*rand.Rand) string) *apiLoad {
	l := &apiLoad{
		rps: rps, base: base, pick: pick, stop: make(chan struct{}), done: make(chan struct{}),
		c:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}},
		res: apiResult{TargetRPS: rps, Codes: map[string]int{}},
	}
	go l.run(seed)
	return l
}

func (l *apiLoad) run(seed uint64) {
	defer close(l.done)
	rnd := rand.New(rand.NewPCG(seed, 0x617069))
	period := time.Second / time.Duration(l.rps)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	i := 0
	for {
		select {
		case <-l.stop:
			l.res.Requests, l.res.Seconds = i, time.Since(start).Seconds()
			return
		case <-tick.C:
		}
		for now := time.Now(); start.Add(time.Duration(i) * period).Before(now); i++ {
			due := start.Add(time.Duration(i) * period)
			late := now.Sub(due) > time.Millisecond
			id := l.pick(rnd)
			l.wg.Add(1)
			go l.get(due, late, id)
		}
	}
}

// get sends one request due at due and records its answer.
func (l *apiLoad) get(due time.Time, late bool, id string) {
	defer l.wg.Done()
	code, n := "error", 0
	resp, err := l.c.Get(l.base + "/v1/customers/" + id)
	if err == nil {
		var b int64
		b, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil {
			code, n = strconv.Itoa(resp.StatusCode), int(b)
		}
	}
	d := time.Since(due)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Codes[code]++
	l.res.samples = append(l.res.samples, d)
	l.res.MeanBytes += float64(n)
	if late {
		l.res.LateSends++
	}
}

// finish stops scheduling, waits for the answers and returns the figures.
func (l *apiLoad) finish() apiResult {
	close(l.stop)
	<-l.done
	l.wg.Wait()
	l.c.CloseIdleConnections()
	l.res.Latency = quantilesOf(l.res.samples)
	if n := len(l.res.samples); n > 0 {
		l.res.MeanBytes /= float64(n)
	}
	return l.res
}

// apiPhase runs the latency phase again on live with an open-loop load of
// rps requests/s on random customers of the bulk workload, served by
// live's API at base; res.Latency is the run without it.
func (ph *phases) apiPhase(ctx context.Context, live *instance, base string, rps int, res *results) error {
	// A customer's first event is keyed by its user id, or by its
	// anonymous id for those who start anonymous: the API resolves the
	// latter to the customer it was merged into.
	pick := func(r *rand.Rand) string {
		c := r.IntN(ph.customers)
		id := custID(c)
		if startsAnonymous(c) {
			id = "anon-" + id[5:]
		}
		return id
	}
	// Every id is known after the bulk: a 404 is a wrong answer the
	// report counts, not a cheap one.
	fmt.Printf("api: %d requests/s on GET /v1/customers/{id} (random customers of the bulk) while %d events/s for %s...\n",
		rps, ph.rate, ph.latDur)
	srv0, err := promsum.Histogram(live.reg, "journey_api_request_seconds", map[string]string{"route": apiRoute, "code": "200"})
	if err != nil {
		return err
	}
	stopProf := func() {}
	if ph.apiProf != "" {
		stopProf = startProfile(ph.apiProf)
	}
	load := startAPILoad(base, rps, ph.seed+3, pick)
	lat, err := runLatency(ctx, ph.brokers, ph.topic, ph.partitions, live, ph.seed+10, "live-api-", ph.customers, ph.rate, ph.latDur, ph.zone)
	ar := load.finish()
	stopProf()
	if err != nil {
		return fmt.Errorf("latency with API load: %w", err)
	}
	srv1, err := promsum.Histogram(live.reg, "journey_api_request_seconds", map[string]string{"route": apiRoute, "code": "200"})
	if err != nil {
		return err
	}
	if d := srv1.Since(srv0); d.Count > 0 {
		ar.Server = stageAge{Stage: "server", Batches: d.Count, P50: d.Quantile(0.5) * 1000, P90: d.Quantile(0.9) * 1000,
			P99: d.Quantile(0.99) * 1000, Mean: d.Sum / float64(d.Count) * 1000}
	}
	ar.Without, ar.With = res.Latency.Redis, lat
	if ar.Without.P99 > 0 {
		ar.P99Ratio = lat.Redis.P99 / ar.Without.P99
	}
	res.API = &ar
	fmt.Printf("api: %d requests in %.1fs, codes %v; latency from schedule p50 %.2fms p99 %.2fms max %.1fms (handler p99 %.2fms); "+
		"pipeline p99 %.1fms with vs %.1fms without (×%.2f)\n", ar.Requests, ar.Seconds, ar.Codes, ar.Latency.P50, ar.Latency.P99,
		ar.Latency.Max, ar.Server.P99, lat.Redis.P99, ar.Without.P99, ar.P99Ratio)
	return nil
}

// codes lists c's counts by code.
func codes(c map[string]int) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", k, c[k])
	}
	if s == "" {
		return "none"
	}
	return s
}

// apiSection writes the API phase, when there was one.
func (r *results) apiSection(p func(string, ...any)) {
	a := r.API
	if a == nil {
		return
	}
	p("\n## The read-side API under load (issue 24)\n\n")
	if a.TargetRPS > 0 {
		w, wo := a.With, r.Latency
		p("**GET /v1/customers/{id} at %s requests/s on random customers while journey takes %s events/s: p50 %.2f ms, "+
			"p99 %.2f ms, max %.1f ms** (target p99 ≤ %.0f ms), from each request's scheduled send to its body read; "+
			"answers: %s; %.0f bytes on average.  \n",
			report.Int(a.TargetRPS), report.Int(w.TargetRate), a.Latency.P50, a.Latency.P99, a.Latency.Max, targetAPIP99,
			codes(a.Codes), a.MeanBytes)
		p("**The pipeline's event-to-Redis p99: %.1f ms without API load, %.1f ms with it: ×%.2f** (target ≤ ×%.2f).\n\n",
			wo.Redis.P99, w.Redis.P99, a.P99Ratio, targetPipelineP99)
		p("| latency phase, %s events/s for %.0f s | p50 | p90 | p99 | p99.9 | max | triggers | cores: this process / Kafka+Redis / other |\n",
			report.Int(w.TargetRate), w.SendSeconds)
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, l := range []struct {
			name string
			lr   latencyResult
		}{{"without API load (above), Kafka append → Redis, ms", wo}, {fmt.Sprintf("with %s requests/s, ms", report.Int(a.TargetRPS)), w}} {
			q := l.lr.Redis
			p("| %s | %.1f | %.1f | **%.1f** | %.1f | %.1f | %s | %s |\n", l.name, q.P50, q.P90, q.P99, q.P999, q.Max,
				report.Int(int(l.lr.Triggers)), l.lr.CPU)
		}
		p("\n| GET /v1/customers/{id}, ms | requests | p50 | p90 | p99 | p99.9 | max | mean |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		q := a.Latency
		p("| scheduled send → body read (open loop, %.0f s) | %s | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.2f |\n",
			a.Seconds, report.Int(a.Requests), q.P50, q.P90, q.P99, q.P999, q.Max, q.Mean)
		s := a.Server
		p("| the handler alone (journey_api_request_seconds, 200s; interpolated in its buckets) | %s | %.2f | %.2f | %.2f | – | – | %.2f |\n\n",
			report.Int(int(s.Batches)), s.P50, s.P90, s.P99, s.Mean)
		p("Method: the latency phase above ran first with the API serving but idle; then again, with fresh message ids, "+
			"while an open-loop generator in this process scheduled a request every %s (%d of %d sent over 1 ms late) for an id "+
			"drawn at random among the bulk's %s customers (the id of its first event: its anonymous id for those who start "+
			"anonymous, which the API resolves). Each request's time runs from when it was due, not when it went out, so a "+
			"stall counts for every request behind it. The API is pkg/api as `journey run` serves it on one instance "+
			"(with identity routing on, the group's view of partitions; no token), over keep-alive connections on loopback.\n",
			time.Second/time.Duration(a.TargetRPS), a.LateSends, a.Requests, report.Int(r.Params.Customers))
	}
	if pg := a.Page; pg != nil {
		p("\n**The web page, /customers/{id} of a customer with a full timeline (%d entries, %s bytes from the API): "+
			"rendered in %.1f ms median, %.1f ms max over %d loads** (target < %.0f ms); the next frame at %.1f ms median, "+
			"%.1f ms max. The first load, in a fresh browser: %.1f ms.\n\n",
			pg.Entries, report.Int(pg.Bytes), pg.Rendered.P50, pg.Rendered.Max, pg.Loads, targetPageMs, pg.Painted.P50,
			pg.Painted.Max, pg.FirstRendered)
		p("The median load, ms from navigation start: the page's HTML received %.1f, parsed (its script run) %.1f, the API "+
			"request sent %.1f and answered %.1f, %d rows rendered and the status line set %.1f.\n\n", pg.HTML, pg.Parsed,
			pg.APIStart, pg.APIEnd, pg.Rows, pg.Rendered.P50)
		p("Method: %s, headless, driven over the DevTools protocol on a pipe (--remote-debugging-pipe); each load in a new "+
			"tab of one browser, journey caught up and idle. A probe injected before the page's own script "+
			"(Page.addScriptToEvaluateOnNewDocument) notes performance.now() — from navigation start — when the status line "+
			"first names the customer, which the page sets right after rendering the API's answer, and at the next frame after that.\n",
			pg.Browser)
	}
}
