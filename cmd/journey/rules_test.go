package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
)

// TestRulesEndToEnd: journey run with two interest rules of the rules:
// list — "boots-push" (category boots, 2 views, push) and "any-email"
// (any category, 3 views, email) — beside the default processors. Both
// rules' triggers reach Redis under the rules' names with ids of their
// own, and a customer who viewed only sneakers gets only any-email's.
func TestRulesEndToEnd(t *testing.T) {
	e := newRigEnv(t, 1)
	cfg := e.config(t, `timers:
  idle_advance: 0s
  lateness: 0s
rules:
  - name: boots-push
    kind: interest
    where:
      properties: {category: boots}
    threshold: 2
    half_life: 0s
    target: push
  - name: any-email
    kind: interest
    threshold: 3
    half_life: 0s
    target: email
`)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // a Friday, 10:00 in Paris: outside quiet hours
	view := func(cust, id, cat string, min int) string {
		return segmentLine(cust, id, "Product Viewed", "web", t0.Add(time.Duration(min)*time.Minute),
			map[string]any{"product_id": cat + "-" + id, "category": cat})
	}
	kcatProduce(t, e.brokers, e.topic, nil,
		view("u-sneakers", "s1", "sneakers", 0),
		view("u-sneakers", "s2", "sneakers", 1),
		view("u-sneakers", "s3", "sneakers", 2), // any-email (and the default interest.category)
		view("u-boots", "b1", "boots", 3),
		view("u-boots", "b2", "boots", 4), // boots-push
		view("u-boots", "b3", "boots", 5), // any-email (and interest.category)
	)

	type entry struct{ id, rule, customer string }
	read := func(channel string) ([]entry, error) {
		es, err := e.rdb.XRange(context.Background(), e.prefix+"triggers:"+channel, "-", "+").Result()
		var out []entry
		for _, m := range es {
			out = append(out, entry{fmt.Sprint(m.Values["id"]), fmt.Sprint(m.Values["rule"]), fmt.Sprint(m.Values["customer_id"])})
		}
		return out, err
	}
	of := func(es []entry, rule string) []entry {
		return slices.DeleteFunc(slices.Clone(es), func(x entry) bool { return x.rule != rule })
	}
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		push, err := read("push")
		if err != nil {
			return err
		}
		email, err := read("email")
		if err != nil {
			return err
		}
		if len(of(push, "boots-push")) < 1 || len(of(email, "any-email")) < 2 {
			return fmt.Errorf("push %v, email %v: want boots-push's and both any-email's", push, email)
		}
		return nil
	})
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if n := committedTotal(t, e); n != 6 {
			return fmt.Errorf("%d of 6 records committed", n)
		}
		return nil
	})
	ctx, err := e.rdb.HGetAll(context.Background(), e.prefix+"ctx:u-boots").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ctx["boots-push.top"], "boots") || !strings.Contains(ctx["any-email.top"], "boots") {
		t.Errorf("context of u-boots = %v, want the rules' own fields", ctx)
	}
	// Stopped cleanly, the outbox is flushed: the streams are final.
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, c.tail(30))
	}
	push, err := read("push")
	if err != nil {
		t.Fatal(err)
	}
	email, err := read("email")
	if err != nil {
		t.Fatal(err)
	}
	wantPush := []entry{{journey.TriggerID("boots-push", "u-boots", "b2"), "boots-push", "u-boots"}}
	if got := of(push, "boots-push"); !slices.Equal(got, wantPush) {
		t.Errorf("boots-push triggers = %v, want only u-boots's at b2 %v (the sneakers customer gets none)", got, wantPush)
	}
	wantEmail := []entry{
		{journey.TriggerID("any-email", "u-sneakers", "s3"), "any-email", "u-sneakers"},
		{journey.TriggerID("any-email", "u-boots", "b3"), "any-email", "u-boots"},
	}
	if got := of(email, "any-email"); !slices.Equal(got, wantEmail) {
		t.Errorf("any-email triggers = %v, want %v", got, wantEmail)
	}
	if len(push) != 1 {
		t.Errorf("push stream = %v, want boots-push's trigger alone", push)
	}
	ids := map[string]bool{}
	for _, x := range append(push, email...) {
		if ids[x.id] {
			t.Errorf("trigger id %s twice in %v %v", x.id, push, email)
		}
		ids[x.id] = true
	}

	// A changed rule tried on history first: boots-push at 3 views, in a
	// shadow backtest. It fires at b3 in the shadow stream; the live
	// streams are untouched.
	changed := filepath.Join(e.dir, "changed.yaml")
	if err := writeFile(changed, strings.Replace(readFile(t, cfg), "threshold: 2", "threshold: 3", 1)); err != nil {
		t.Fatal(err)
	}
	shadow := strings.TrimSuffix(e.prefix, ":") + "-shadow:"
	if code, out := runToExit(t, 2*time.Minute, "replay", "--config", changed, "--state-dir", filepath.Join(e.dir, "backtest"),
		"--from", "earliest", "--triggers", "shadow", "--shadow-prefix", shadow, "--progress", "none"); code != 0 {
		t.Fatalf("shadow replay: exit %d: %s", code, out)
	}
	es, err := e.rdb.XRange(context.Background(), shadow+"triggers:push", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var shadowPush []entry
	for _, m := range es {
		shadowPush = append(shadowPush, entry{fmt.Sprint(m.Values["id"]), fmt.Sprint(m.Values["rule"]), fmt.Sprint(m.Values["customer_id"])})
	}
	if want := []entry{{journey.TriggerID("boots-push", "u-boots", "b3"), "boots-push", "u-boots"}}; !slices.Equal(shadowPush, want) {
		t.Errorf("the backtest's push stream = %v, want boots-push at b3 %v", shadowPush, want)
	}
	if after, err := read("push"); err != nil || !slices.Equal(after, push) {
		t.Errorf("the live push stream changed in the backtest: %v (%v), was %v", after, err, push)
	}
}
