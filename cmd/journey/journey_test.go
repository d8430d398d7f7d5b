package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testrig"
)

// segmentLine is one kcat input line: key|Segment track JSON.
func segmentLine(customer, id, event, channel string, at time.Time, props map[string]any) string {
	b, _ := json.Marshal(map[string]any{
		"type": "track", "messageId": id, "userId": customer, "event": event,
		"timestamp": at.UTC().Format(time.RFC3339Nano),
		"context": map[string]any{"channel": channel, "timezone": "Europe/Paris",
			"consent": map[string]any{"email": true, "push": true}},
		"properties": props,
	})
	return customer + "|" + string(b)
}

// TestOmnichannelJourney scripts one customer across channels — browse on
// the web and in the app, add to cart and leave, open an email, a failed
// call-centre contact, a 1-star review, more browsing — and checks exactly
// which triggers reach which stream, which the contact policy stopped and
// why, and the context an agent reads.
func TestOmnichannelJourney(t *testing.T) {
	e := newRigEnv(t, 2)
	cfg := e.config(t, `timers:
  idle_advance: 0s     # event time only: the script's own events move the watermark
  lateness: 0s
processors:
  interest:
    threshold: 3
  cart:
    timeout: 1h
  engagement:
    target: web        # keep tier changes out of the email cap this test is about
  policy:
    caps:
      email: {max: 1, window: 24h}
    rules:
      interest.category: {cooldown: 24h}
`)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	const u = "u-jo"
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // a Friday, 10:00 in Paris: outside quiet hours
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	view := func(id, channel, cat string, min int) string {
		return segmentLine(u, id, "Product Viewed", channel, at(min), map[string]any{"product_id": cat + "-" + id, "category": cat})
	}
	kcatProduce(t, e.brokers, e.topic, nil,
		view("v1", "web", "boots", 0),
		view("v2", "web", "boots", 2),
		view("v3", "app", "boots", 4), // third boots view: interest.category -> email (admitted)
		segmentLine(u, "add1", "Product Added", "web", at(5), map[string]any{
			"cart_id": "cart-1", "product_id": "boots-v3", "price": 120, "quantity": 1}), // arms cart:cart-1 at 10:05
		segmentLine(u, "open1", "Email Opened", "email", at(40), map[string]any{"email_id": "em-1"}),
		// 10:30 passes the cart deadline: cart.abandoned fires first -> email cap (1/24h) reached -> suppressed
		segmentLine(u, "call1", "Contact Ended", "call_centre", at(90), map[string]any{
			"contact_id": "call-1", "medium": "phone", "outcome": "failed"}),
		segmentLine(u, "rev1", "Product Reviewed", "web", at(105), map[string]any{
			"product_id": "boots-v3", "review_id": "r-1", "rating": 1}), // recovery.negative -> call_centre
		view("h1", "web", "hats", 120),
		view("h2", "web", "hats", 121),
		view("h3", "app", "hats", 122), // interest.category again within 24h -> cooldown
	)

	streams := func() (map[string][]string, error) {
		out := map[string][]string{}
		for _, ch := range []string{"email", "call_centre", "push", "web", "app", "sms"} {
			es, err := e.rdb.XRange(context.Background(), e.prefix+"triggers:"+ch, "-", "+").Result()
			if err != nil {
				return nil, err
			}
			for _, m := range es {
				out[ch] = append(out[ch], fmt.Sprint(m.Values["rule"]))
			}
		}
		return out, nil
	}
	var got map[string][]string
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		var err error
		if got, err = streams(); err != nil {
			return err
		}
		if len(got["call_centre"]) == 0 {
			return fmt.Errorf("no recovery trigger yet: %v", got)
		}
		return nil
	})
	c.waitReady(t, 10*time.Second)
	// Wait until every record is committed, then read the final picture.
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if n := committedTotal(t, e); n != 10 {
			return fmt.Errorf("%d of 10 records committed", n)
		}
		return nil
	})
	if got, _ = streams(); !slices.Equal(got["email"], []string{"interest.category"}) {
		t.Fatalf("email stream %v, want exactly [interest.category] (cart capped, hats in cooldown)", got["email"])
	}
	if !slices.Equal(got["call_centre"], []string{"recovery.negative"}) {
		t.Fatalf("call_centre stream %v, want [recovery.negative]", got["call_centre"])
	}
	for ch, rules := range got {
		for _, r := range rules {
			if ch != "email" && ch != "call_centre" && r != "engagement.tier" {
				t.Fatalf("unexpected %s trigger on %s", r, ch)
			}
		}
	}

	// The recovery trigger lists its reasons and points at the review.
	es, _ := e.rdb.XRange(context.Background(), e.prefix+"triggers:call_centre", "-", "+").Result()
	if p := fmt.Sprint(es[0].Values["payload"]); !strings.Contains(p, "low_rating") {
		t.Fatalf("recovery payload %s lacks the low_rating reason", p)
	}
	if causes := fmt.Sprint(es[0].Values["causes"]); !strings.Contains(causes, "rev1") {
		t.Fatalf("recovery causes %s do not name the review", causes)
	}

	// Suppressed triggers are counted per rule and reason.
	metrics := c.get(t, "/metrics")
	for _, want := range []string{
		`journey_triggers_suppressed_total{reason="channel_cap",rule="cart.abandoned"} 1`,
		`journey_triggers_suppressed_total{reason="cooldown",rule="interest.category"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// What a call-centre agent reads in one call.
	ctxHash, err := e.rdb.HGetAll(context.Background(), e.prefix+"ctx:"+u).Result()
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{
		"interest.top":      "boots",
		"cart.abandoned_at": "2026-11-20T10:05:00Z",
		"cart.open":         "cart-1",
		"recovery.last":     "low_rating",
		"last_channel":      "app",
		"chanpref.channel":  "email",
	} {
		if !strings.Contains(ctxHash[field], want) {
			t.Errorf("context %s = %q, want it to contain %q", field, ctxHash[field], want)
		}
	}
	if t.Failed() {
		t.Logf("context: %v", ctxHash)
	}
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestIdlePartitionFiresTimers: in live mode a cart abandoned with no
// traffic after it is noticed from the wall clock, without waiting for
// more events. A backtest of the same history (journey replay --triggers
// shadow) fires it too, with the same id: the replay's end advances the
// watermark to the last record's Kafka timestamp.
func TestIdlePartitionFiresTimers(t *testing.T) {
	e := newRigEnv(t, 1)
	cfg := e.config(t, `timers:
  idle_advance: 1s
  lateness: 0s
processors:
  cart:
    timeout: 1h
    target: web
  policy:
    quiet_hours: {channels: []}
`)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)
	added := time.Now().Add(-90 * time.Minute).UTC() // its deadline passed half an hour ago
	kcatProduce(t, e.brokers, e.topic, nil,
		segmentLine("u-idle", "add-idle", "Product Added", "web", added, map[string]any{"cart_id": "cart-9", "product_id": "p-9", "price": 10}))
	abandoned := func(prefix string) (string, error) {
		es, err := e.rdb.XRange(context.Background(), prefix+"triggers:web", "-", "+").Result()
		if err != nil {
			return "", err
		}
		for _, m := range es {
			if m.Values["rule"] == "cart.abandoned" {
				return m.Values["id"].(string), nil
			}
		}
		return "", fmt.Errorf("no cart.abandoned in %striggers:web (%d triggers)", prefix, len(es))
	}
	var live string
	testrig.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() (err error) {
		live, err = abandoned(e.prefix)
		return err
	})
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	shadow := strings.TrimSuffix(e.prefix, ":") + "-shadow:"
	if code, out := runToExit(t, 2*time.Minute, "replay", "--config", cfg, "--state-dir", filepath.Join(e.dir, "backtest"),
		"--from", "earliest", "--triggers", "shadow", "--shadow-prefix", shadow, "--progress", "none"); code != 0 {
		t.Fatalf("journey replay: exit %d\n%s", code, out)
	}
	if got, err := abandoned(shadow); err != nil || got != live {
		t.Errorf("the backtest's cart.abandoned: %q (%v), want the live one's id %q", got, err, live)
	}
}

// get fetches a path from the child's admin server.
func (c *child) get(t *testing.T, path string) string {
	t.Helper()
	m := adminRe.FindStringSubmatch(c.output())
	if m == nil {
		t.Fatal("admin address not logged")
	}
	resp, err := http.Get("http://" + m[1] + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
