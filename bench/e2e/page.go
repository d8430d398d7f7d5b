package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/timeline"
)

// pageResult is the web page's load time for one customer whose timeline
// is full (timeline.max_events entries), loaded in headless Chromium.
type pageResult struct {
	Browser  string `json:"browser"`
	Customer string `json:"customer"`
	// Entries are the timeline entries the API answered (and the page's
	// table rows); Bytes the API response's size.
	Entries int `json:"timeline_entries"`
	Rows    int `json:"rows"`
	Bytes   int `json:"api_response_bytes"`
	Loads   int `json:"loads"`
	// Rendered is each load's time from navigation start to the page's
	// status line naming the customer (fetched, parsed, rendered), ms;
	// Painted to the next frame after it.
	Rendered quantiles `json:"rendered_ms"`
	Painted  quantiles `json:"painted_ms"`
	// Where the median load's time goes, ms from navigation start: the
	// page's HTML received and parsed (its script run: domInteractive),
	// the API request started and answered.
	HTML     float64 `json:"html_received_ms"`
	Parsed   float64 `json:"html_parsed_ms"`
	APIStart float64 `json:"api_request_start_ms"`
	APIEnd   float64 `json:"api_response_end_ms"`
	// FirstRendered is the first load's (a fresh browser, no cache).
	FirstRendered float64 `json:"first_rendered_ms"`
}

// pageCustomer is the customer pagePhase seeds.
const pageCustomer = "page-0000001"

// pagePhase seeds pageCustomer with more events than its timeline keeps,
// across channels, waits until the API answers its full timeline, then
// loads base/customers/{id} loads times in headless Chromium.
func (ph *phases) pagePhase(ctx context.Context, live *instance, base string, loads int, res *results) error {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		return errors.New("page: chromium not found (rig/install.sh installs it; -page-loads 0 skips the page)")
	}
	max, err := maxTimeline(live)
	if err != nil {
		return err
	}
	fmt.Printf("page: seeding %s with %d events, then %d loads of /customers/%s in headless Chromium...\n", pageCustomer, max+20, loads, pageCustomer)
	if err := seedPageCustomer(ctx, ph.brokers, ph.topic, ph.stamp, ph.zone, max+20); err != nil {
		return fmt.Errorf("page: seed: %w", err)
	}
	pr := &pageResult{Customer: pageCustomer, Loads: loads}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pr.Entries, pr.Bytes, err = timelineLen(ctx, base, pageCustomer)
		if err == nil && pr.Entries >= max {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("page: %s has %d timeline entries after 2 min, want %d (%v)", pageCustomer, pr.Entries, max, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if out, err := exec.CommandContext(ctx, chromium, "--version").Output(); err == nil {
		pr.Browser = string(bytes.TrimSpace(out))
	}
	times, err := loadPage(ctx, chromium, base+"/customers/"+pageCustomer, loads)
	if err != nil {
		return fmt.Errorf("page: %w", err)
	}
	var rendered, painted []time.Duration
	for _, t := range times {
		rendered = append(rendered, msDur(t.Rendered))
		painted = append(painted, msDur(t.Painted))
	}
	pr.FirstRendered = times[0].Rendered
	pr.Rendered, pr.Painted = quantilesOf(rendered), quantilesOf(painted)
	slices.SortFunc(times, func(a, b pageTimes) int { return cmpFloat(a.Rendered, b.Rendered) })
	med := times[(len(times)-1)/2]
	pr.HTML, pr.Parsed, pr.APIStart, pr.APIEnd, pr.Rows = med.HTML, med.Parsed, med.APIStart, med.APIEnd, med.Rows
	if res.API == nil {
		res.API = &apiResult{}
	}
	res.API.Page = pr
	fmt.Printf("page: %d entries (%d rows, %d bytes from the API); rendered median %.1fms max %.1fms (first %.1fms); painted median %.1fms max %.1fms\n",
		pr.Entries, pr.Rows, pr.Bytes, pr.Rendered.P50, pr.Rendered.Max, pr.FirstRendered, pr.Painted.P50, pr.Painted.Max)
	if pr.Rows != pr.Entries {
		return fmt.Errorf("page: %d table rows for %d timeline entries", pr.Rows, pr.Entries)
	}
	return nil
}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// maxTimeline is timeline.max_events of in (timeline.DefaultConfig's
// unless its section sets it); an error when in runs no timeline.
func maxTimeline(in *instance) (int, error) {
	if !slices.ContainsFunc(in.engine.Processors(), func(p journey.Processor) bool { return p.Name() == timeline.Name }) {
		return 0, errors.New("page: the timeline processor is off (the API phase runs with -set 'processors: {timeline: {enabled: true}}')")
	}
	tl := timeline.DefaultConfig()
	if sec, ok := in.cfg.Processors[timeline.Name]; ok {
		if err := sec.Decode(&tl); err != nil {
			return 0, err
		}
	}
	return tl.MaxEvents, nil
}

// seedPageCustomer writes n events of pageCustomer, ten seconds apart and
// ending now, in zone: product views on web and app over three
// categories (interest triggers), cart additions, email opens, an order.
func seedPageCustomer(ctx context.Context, brokers []string, topic, stamp, zone string, n int) error {
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireOne, BatchTimeout: time.Millisecond}
	defer w.Close()
	now := time.Now()
	msgs := make([]kafka.Message, 0, n)
	for k := range n {
		at := now.Add(-time.Duration(n-1-k) * 10 * time.Second).UTC().Format("2006-01-02T15:04:05.000Z07:00")
		id := "page-" + stamp + "-" + strconv.Itoa(k)
		c, p := k%3, k%17
		channel := [...]string{"web", "app"}[k%2]
		var v string
		switch {
		case k%10 == 9:
			v = fmt.Sprintf(`{"type":"track","event":"Email Opened","messageId":%q,"userId":%q,"timestamp":%q,`+
				`"properties":{"email_id":"em-%d","campaign_id":"cmp-%d"},"context":{"channel":"email","timezone":%q}}`,
				id, pageCustomer, at, k, k%5, zone)
		case k%10 == 7:
			v = fmt.Sprintf(`{"type":"track","event":"Product Added","messageId":%q,"userId":%q,"timestamp":%q,`+
				`"properties":{"cart_id":"cart-page","product_id":"sku-%d-%d","category":%q,"price":19.9,"quantity":1,"currency":"EUR"},`+
				`"context":{"channel":%q,"timezone":%q}}`, id, pageCustomer, at, c, p, categories[c], channel, zone)
		case k == n-1:
			v = fmt.Sprintf(`{"type":"track","event":"Order Completed","messageId":%q,"userId":%q,"timestamp":%q,`+
				`"properties":{"order_id":"ord-page","cart_id":"cart-page","currency":"EUR","total":59.7,"products":[{"product_id":"sku-0-7","category":%q,"price":19.9,"quantity":1}]},`+
				`"context":{"channel":"web","timezone":%q}}`, id, pageCustomer, at, categories[0], zone)
		default:
			v = fmt.Sprintf(`{"type":"track","event":"Product Viewed","messageId":%q,"userId":%q,"timestamp":%q,`+
				`"properties":{"product_id":"sku-%d-%d","category":%q,"price":19.9,"currency":"EUR"},`+
				`"context":{"channel":%q,"timezone":%q,"page":{"path":"/p/sku-%d-%d"}}}`, id, pageCustomer, at, c, p, categories[c], channel, zone, c, p)
		}
		msgs = append(msgs, kafka.Message{Key: []byte(pageCustomer), Value: []byte(v)})
	}
	return w.WriteMessages(ctx, msgs...)
}

// timelineLen asks the API for id and returns its timeline's length and
// the response's size.
func timelineLen(ctx context.Context, base, id string) (int, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/customers/"+id, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, len(b), fmt.Errorf("GET %s: %d", id, resp.StatusCode)
	}
	var c struct {
		Timeline []json.RawMessage `json:"timeline"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return 0, len(b), err
	}
	return len(c.Timeline), len(b), nil
}

// pageTimes is one load, ms from navigation start.
type pageTimes struct {
	Rendered float64 `json:"rendered"`
	Painted  float64 `json:"painted"`
	HTML     float64 `json:"html"`
	Parsed   float64 `json:"parsed"`
	APIStart float64 `json:"apiStart"`
	APIEnd   float64 `json:"apiEnd"`
	Rows     int     `json:"rows"`
}

// pageProbe runs in the page before its own script (the DevTools
// protocol's Page.addScriptToEvaluateOnNewDocument): it notes when the
// status line first names the customer, which the page sets right after
// rendering the API's answer, and the next frame after that.
const pageProbe = `(() => {
  const seen = () => {
    const s = document.getElementById("status");
    if (window.__journeyLoad || !s || !s.textContent.startsWith("Customer ")) return;
    const t = {rendered: performance.now(), rows: document.querySelectorAll("#timeline tbody tr").length};
    const nav = performance.getEntriesByType("navigation")[0];
    t.html = nav ? nav.responseEnd : 0;
    t.parsed = nav ? nav.domInteractive : 0;
    const api = performance.getEntriesByType("resource").find((e) => e.name.includes("/v1/customers/"));
    t.apiStart = api ? api.startTime : 0;
    t.apiEnd = api ? api.responseEnd : 0;
    window.__journeyLoad = t;
    requestAnimationFrame(() => setTimeout(() => { t.painted = performance.now(); window.__journeyDone = JSON.stringify(t); }, 0));
  };
  // Only the status line is watched, from the end of parsing (the page's
  // script has asked the API by then; the answer comes later).
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(seen).observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true});
    seen();
  });
})();`

// loadPage starts one headless Chromium, driven through the DevTools
// protocol on a pipe (--remote-debugging-pipe: no port, no WebSocket
// client), and loads url n times, each in a new tab.
func loadPage(ctx context.Context, chromium, url string, n int) ([]pageTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*10*time.Second+30*time.Second)
	defer cancel()
	profile, err := os.MkdirTemp("", "journey-bench-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	toChrome, chromeIn, err := os.Pipe() // chromium reads fd 3
	if err != nil {
		return nil, err
	}
	chromeOut, fromChrome, err := os.Pipe() // and writes fd 4
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--no-default-browser-check", "--disable-extensions", "--remote-debugging-pipe", "--user-data-dir="+profile,
		"--window-size=1280,900", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	_ = toChrome.Close()
	_ = fromChrome.Close()
	c := &cdp{w: chromeIn, r: bufio.NewReader(chromeOut)}
	defer func() {
		_, _ = c.call("", "Browser.close", nil)
		_ = chromeIn.Close()
		_ = cmd.Wait()
		_ = chromeOut.Close()
	}()
	var out []pageTimes
	for i := range n {
		t, err := c.load(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("load %d: %w (chromium: %.500s)", i+1, err, stderr.String())
		}
		out = append(out, t)
	}
	return out, nil
}

// load opens url in a new tab, waits for pageProbe's figures and closes
// the tab.
func (c *cdp) load(ctx context.Context, url string) (pageTimes, error) {
	var t pageTimes
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.decode("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return t, err
	}
	defer func() { _, _ = c.call("", "Target.closeTarget", map[string]any{"targetId": target.TargetID}) }()
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.decode("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		return t, err
	}
	s := att.SessionID
	if _, err := c.call(s, "Page.enable", nil); err != nil {
		return t, err
	}
	if _, err := c.call(s, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": pageProbe}); err != nil {
		return t, err
	}
	if _, err := c.call(s, "Page.navigate", map[string]any{"url": url}); err != nil {
		return t, err
	}
	for {
		var ev struct {
			Result struct {
				Value string `json:"value"`
			} `json:"result"`
		}
		// Polling only reads what the probe noted: its figures are the
		// page's own clock, not the poll's.
		err := c.decode(s, "Runtime.evaluate", map[string]any{"expression": "window.__journeyDone || ''", "returnByValue": true}, &ev)
		if err == nil && ev.Result.Value != "" {
			return t, json.Unmarshal([]byte(ev.Result.Value), &t)
		}
		select {
		case <-ctx.Done():
			return t, fmt.Errorf("the page did not show the customer: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cdp is a DevTools protocol client over Chromium's debugging pipe:
// JSON messages, each ended by a NUL byte.
type cdp struct {
	w    io.Writer
	r    *bufio.Reader
	next int
}

// call sends method (to session, "" for the browser) and returns its
// result, skipping the events that arrive meanwhile.
func (c *cdp) call(session, method string, params any) (json.RawMessage, error) {
	c.next++
	msg := map[string]any{"id": c.next, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if _, err := c.w.Write(append(b, 0)); err != nil {
		return nil, err
	}
	for {
		line, err := c.r.ReadBytes(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line[:len(line)-1], &resp); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if resp.ID != c.next {
			continue // an event
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		return resp.Result, nil
	}
}

// decode calls method and decodes its result into v.
func (c *cdp) decode(session, method string, params, v any) error {
	r, err := c.call(session, method, params)
	if err != nil {
		return err
	}
	return json.Unmarshal(r, v)
}
