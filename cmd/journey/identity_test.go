package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/sink/redissink"
)

// anonLine is one kcat input line (key|JSON) of a Segment message with
// the ids given ("" leaves one out); props nil for an identify, which
// also grants email consent.
func anonLine(key, id, kind, user, anon, event string, at time.Time, props map[string]any) string {
	ctx := map[string]any{"channel": "web", "timezone": "Europe/Paris"}
	if kind == "identify" {
		ctx["consent"] = map[string]any{"email": true} // granted at login
	}
	m := map[string]any{"type": kind, "messageId": id, "timestamp": at.UTC().Format(time.RFC3339Nano), "context": ctx}
	if user != "" {
		m["userId"] = user
	}
	if anon != "" {
		m["anonymousId"] = anon
	}
	if kind == "track" {
		m["event"], m["properties"] = event, props
	}
	b, _ := json.Marshal(m)
	return key + "|" + string(b)
}

// kcatCRC32 produces lines as a librdkafka producer does by default
// (CRC32 of the key, not Java's murmur2); an empty key is sent as null.
func kcatCRC32(t *testing.T, brokers []string, topic string, lines ...string) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found (make test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", strings.Join(brokers, ","), "-t", topic, "-P", "-K", "|", "-Z",
		"-X", "partitioner=consistent_random")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
}

func javaPartitionOf(id string, n int) int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(id)}, ps...)
}

// apart returns an anonymous id whose partition is not user's.
func apart(prefix, user string, n int) string {
	for i := 0; ; i++ {
		if a := fmt.Sprintf("%s-%d", prefix, i); javaPartitionOf(a, n) != javaPartitionOf(user, n) {
			return a
		}
	}
}

// TestIdentityAcrossPartitions is issue 22's scenario through journey run,
// with producers as they are (kcat's CRC32 partitioner, keys that are the
// anonymous id, the user id, or nothing): two anonymous boots views, an
// identify on the user's partition, and a known view with no key give one
// interest trigger for the user with the three views as causes; a second
// visitor unsubscribes from email under the anonymous id after logging in,
// and the interest email her known view would have warranted is suppressed
// (no_consent) — consent is per customer, never per key.
func TestIdentityAcrossPartitions(t *testing.T) {
	const parts = 4
	e := newRigEnv(t, parts)
	cfg := e.config(t, `timers:
  idle_advance: 0s
  lateness: 0s
processors:
  interest:
    threshold: 3
    target: email
  engagement:
    target: web
`)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) // 10:00 in Paris: outside quiet hours
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	boots := func(id string) map[string]any {
		return map[string]any{"product_id": "boots-" + id, "category": "boots"}
	}
	u1, u2 := "u-ida", "u-idb"
	a1, a2 := apart("anon-ida", u1, parts), apart("anon-idb", u2, parts)

	kcatCRC32(t, e.brokers, e.topic,
		anonLine(a1, "a1v1", "track", "", a1, "Product Viewed", at(0), boots("1")),
		anonLine(a1, "a1v2", "track", "", a1, "Product Viewed", at(1), boots("2")),
		anonLine(u1, "a1id", "identify", u1, a1, "", at(2), nil),
		anonLine(a2, "a2v1", "track", "", a2, "Product Viewed", at(0), boots("3")),
		anonLine(a2, "a2v2", "track", "", a2, "Product Viewed", at(1), boots("4")),
		anonLine(u2, "a2id", "identify", u2, a2, "", at(2), nil),
	)
	for a, u := range map[string]string{a1: u1, a2: u2} {
		testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
			got, err := e.rdb.HGetAll(context.Background(), e.prefix+"ctx:"+a).Result()
			if err != nil || got["merged_into"] != u || len(got) != 1 {
				return fmt.Errorf("ctx:%s = %v (%v), want only merged_into=%s", a, got, err, u)
			}
			return nil
		})
	}
	kcatCRC32(t, e.brokers, e.topic,
		anonLine("", "a1v3", "track", u1, "", "Product Viewed", at(3), boots("5")), // no key
		anonLine(a2, "a2un", "track", "", a2, "Email Unsubscribed", at(3), map[string]any{}),
	)
	// The unsubscribe, keyed and addressed by the anonymous id, reaches the
	// user's consent (two hops: the id's partition, then the user's)...
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		got, err := e.rdb.HGet(context.Background(), e.prefix+"ctx:"+u2, "policy.consent").Result()
		if err != nil || strings.Contains(got, `"email"`) { // the channels she consents to
			return fmt.Errorf("ctx:%s policy.consent = %q (%v), want email refused", u2, got, err)
		}
		return nil
	})
	// ... so her next known view's interest email is not sent.
	kcatCRC32(t, e.brokers, e.topic, anonLine(u2, "a2v3", "track", u2, "", "Product Viewed", at(4), boots("6")))
	settled(t, e, 9, time.Minute)
	es, err := e.rdb.XRange(context.Background(), e.prefix+"triggers:email", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var interest []string
	for _, m := range es {
		tr, err := redissink.DecodeTrigger(m)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Rule == "interest.category" {
			interest = append(interest, tr.CustomerID+":"+strings.Join(tr.Causes, ","))
		}
	}
	if want := []string{u1 + ":a1v1,a1v2,a1v3"}; !slices.Equal(interest, want) {
		t.Errorf("interest emails %v, want %v (one for %s, none for %s who unsubscribed)", interest, want, u1, u2)
	}
	metrics := c.get(t, "/metrics")
	if want := `journey_triggers_suppressed_total{reason="no_consent",rule="interest.category"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	for _, want := range []string{`journey_identity_total{what="merged"} 2`, `journey_identity_total{what="linked"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
