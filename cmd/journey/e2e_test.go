package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/schemas"
)

// TestEndToEndWithKcat: Segment and CloudEvents (structured and binary)
// produced by kcat yield the expected triggers, with every field of the
// Redis contract, and the customer context hash.
func TestEndToEndWithKcat(t *testing.T) {
	e := newRigEnv(t, 2)
	cfg := e.config(t, `ingest:
  cloudevent_types:
    com.example.product.viewed: Product Viewed
processors:
  interest:
    threshold: 2
    target: email
  policy:
    quiet_hours:
      channels: []   # event times follow the wall clock here; quiet hours have their own tests
`)
	c := startChild(t, "run", "--config", cfg)

	at := time.Now().Add(-10 * time.Minute).UTC()
	ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339Nano) }
	// Customer u-100: a Segment view on the web, then a structured CloudEvent view in the app.
	kcatProduce(t, e.brokers, e.topic, nil,
		`u-100|{"type":"track","messageId":"seg-1","userId":"u-100","event":"Product Viewed","timestamp":"`+ts(0)+
			`","context":{"channel":"web","timezone":"Europe/Paris","consent":{"email":true}},"properties":{"product_id":"boot-1","category":"boots","price":89.5}}`)
	kcatProduce(t, e.brokers, e.topic, []string{"content-type=application/cloudevents+json"},
		`u-100|{"specversion":"1.0","id":"ce-1","source":"/app","type":"com.example.product.viewed","subject":"u-100","time":"`+ts(time.Minute)+
			`","channel":"app","consent":"email=true","datacontenttype":"application/json","data":{"product_id":"boot-2","category":"boots"}}`)
	// Customer u-200: a binary-mode CloudEvent, then a Segment view.
	kcatProduce(t, e.brokers, e.topic, []string{
		"ce_specversion=1.0", "ce_id=ce-2", "ce_source=/app", "ce_type=com.example.product.viewed", "ce_subject=u-200",
		"ce_time=" + ts(2*time.Minute), "ce_channel=app", "ce_consent=email=true", "content-type=application/json"},
		`u-200|{"product_id":"hat-1","category":"hats"}`)
	kcatProduce(t, e.brokers, e.topic, nil,
		`u-200|{"type":"track","messageId":"seg-2","userId":"u-200","event":"Product Viewed","timestamp":"`+ts(3*time.Minute)+
			`","context":{"channel":"web"},"properties":{"product_id":"hat-2","category":"hats"}}`)

	stream := e.prefix + "triggers:email"
	var entries []redis.XMessage
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		var err error
		entries, err = e.rdb.XRange(context.Background(), stream, "-", "+").Result()
		if err != nil {
			return err
		}
		if len(entries) < 2 {
			return fmt.Errorf("%d of 2 triggers in %s", len(entries), stream)
		}
		return nil
	})
	if len(entries) != 2 {
		t.Fatalf("%d triggers, want 2", len(entries))
	}
	firstIDs := []string{entries[0].ID, entries[1].ID}
	triggerSchema, err := schemas.Compile(schemas.Trigger)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		category string
		causes   []string
		at       string
	}{
		"u-100": {"boots", []string{"seg-1", "ce-1"}, ts(time.Minute)},
		"u-200": {"hats", []string{"ce-2", "seg-2"}, ts(3 * time.Minute)},
	}
	for _, m := range entries {
		f := map[string]any{}
		for k, v := range m.Values {
			f[k] = v
		}
		for _, k := range []string{"id", "rule", "customer_id", "channel", "at", "reason", "causes", "payload"} {
			if f[k] == nil || f[k] == "" {
				t.Fatalf("entry %s has no %q: %v", m.ID, k, f)
			}
		}
		// Validate against the published trigger schema (causes and payload are JSON strings in the stream).
		doc := map[string]any{}
		for k, v := range f {
			doc[k] = v
		}
		for _, k := range []string{"causes", "payload"} {
			var v any
			if err := json.Unmarshal([]byte(f[k].(string)), &v); err != nil {
				t.Fatalf("%s is not JSON: %v", k, err)
			}
			doc[k] = v
		}
		if err := triggerSchema.Validate(doc); err != nil {
			t.Fatalf("entry does not match schemas/trigger.json: %v", err)
		}
		w, ok := want[f["customer_id"].(string)]
		if !ok {
			t.Fatalf("unexpected customer %v", f["customer_id"])
		}
		if f["rule"] != "interest.category" || f["channel"] != "email" || f["at"] == "" {
			t.Fatalf("fields %v", f)
		}
		gotAt, err := time.Parse(time.RFC3339Nano, f["at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		wantAt, _ := time.Parse(time.RFC3339Nano, w.at)
		if !gotAt.Equal(wantAt) {
			t.Fatalf("at %v, want the causing event's time %v", gotAt, wantAt)
		}
		var causes []string
		_ = json.Unmarshal([]byte(f["causes"].(string)), &causes)
		slices.Sort(causes)
		wc := slices.Clone(w.causes)
		slices.Sort(wc)
		if !slices.Equal(causes, wc) {
			t.Fatalf("causes %v, want %v", causes, wc)
		}
		var payload map[string]any
		_ = json.Unmarshal([]byte(f["payload"].(string)), &payload)
		if payload["category"] != w.category {
			t.Fatalf("payload %v, want category %s", payload, w.category)
		}
	}

	// The context hash downstream services read in one call.
	var ctxHash map[string]string
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		var err error
		ctxHash, err = e.rdb.HGetAll(context.Background(), e.prefix+"ctx:u-100").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(ctxHash["interest.top"], "boots") {
			return fmt.Errorf("context %v", ctxHash)
		}
		return nil
	})
	if ctxHash["last_channel"] != "app" {
		t.Fatalf("last_channel %q, want app (context %v)", ctxHash["last_channel"], ctxHash)
	}
	ttl, err := e.rdb.TTL(context.Background(), e.prefix+"ctx:u-100").Result()
	if err != nil || ttl <= 0 {
		t.Fatalf("context hash has no TTL (%v, %v)", ttl, err)
	}
	for _, v := range ctxHash {
		if strings.Contains(v, "@") {
			t.Fatalf("context looks like it holds an email: %v", ctxHash)
		}
	}

	c.waitReady(t, 30*time.Second)
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, c.tail(30))
	}
	if !strings.Contains(c.output(), "shut down cleanly") {
		t.Fatalf("no clean shutdown logged:\n%s", c.tail(20))
	}
	// Read again after the stop: a late duplicate would show now.
	entries, err = e.rdb.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].ID != firstIDs[0] || entries[1].ID != firstIDs[1] {
		t.Fatalf("after the stop: %d triggers %v, want the 2 read before (%v)", len(entries), entries, firstIDs)
	}
}

// TestInvalidConfigNamesTheField: a bad config fails at start-up naming it.
func TestInvalidConfigNamesTheField(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"kafka:\n  brokers: []\n", "kafka.brokers"},
		{"kafka:\n  topcs: [x]\n", "topcs"},
		{"kafka:\n  start_offset: beginning\n", "kafka.start_offset"},
		{"timers:\n  late_events: drop\n", "timers.late_events"},
		{"processors:\n  interest:\n    threshold: 0\n", "threshold"},
		{"processors:\n  nosuch: {}\n", "nosuch"},
		{"rules:\n  - {name: a, kind: intrest}\n", "rules[0] (a).kind (line 2): unknown kind"},
		{"rules:\n  - name: a\n    kind: interest\n    where: {chanel: web}\n", "rules[0] (a).where.chanel (line 4): unknown field"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			path := t.TempDir() + "/bad.yaml"
			if err := writeFile(path, tc.yaml); err != nil {
				t.Fatal(err)
			}
			c := startChild(t, "run", "--config", path, "--admin-addr", "")
			select {
			case <-c.done:
			case <-time.After(30 * time.Second):
				t.Fatal("journey run did not exit on a bad config")
			}
			if c.cmd.ProcessState.ExitCode() == 0 {
				t.Fatal("exit code 0 on a bad config")
			}
			if !strings.Contains(c.output(), tc.field) {
				t.Fatalf("error does not name %s:\n%s", tc.field, c.output())
			}
		})
	}
}
