package redissink_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/sink/sinktest"
)

// newClient connects to the rig's Redis, or skips t.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testrig.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixSeq atomic.Int64

// testPrefix returns a key prefix no other test or earlier run uses (dedup
// keys outlive a run by DedupTTL) and removes its keys when t ends.
func testPrefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	p := fmt.Sprintf("journey-test:%d:%d:", time.Now().UnixNano(), prefixSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		var keys []string
		flush := func() {
			if len(keys) > 0 {
				if err := c.Unlink(ctx, keys...).Err(); err != nil {
					t.Errorf("cleanup: %v", err)
				}
				keys = keys[:0]
			}
		}
		for iter.Next(ctx) {
			if keys = append(keys, iter.Val()); len(keys) == 1000 {
				flush()
			}
		}
		flush()
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return p
}

func newSink(t testing.TB, c *redis.Client, cfg redissink.Config) *redissink.Sink {
	t.Helper()
	s, err := redissink.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// inspector reads back what a Sink wrote, as a downstream service would.
type inspector struct {
	addr string
	c    *redis.Client
	cfg  redissink.Config
}

func (in inspector) Triggers(ctx context.Context, channel string) ([]journey.Trigger, error) {
	msgs, err := in.c.XRange(ctx, in.cfg.StreamKey(channel), "-", "+").Result()
	if err != nil {
		return nil, err
	}
	ts := make([]journey.Trigger, len(msgs))
	for i, m := range msgs {
		if ts[i], err = redissink.DecodeTrigger(m); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

func (in inspector) Context(ctx context.Context, customerID string) (map[string]string, error) {
	return in.c.HGetAll(ctx, in.cfg.ContextKey(customerID)).Result()
}

// Reopen builds a new client and Sink, as a restarted process would.
func (in inspector) Reopen(t *testing.T) sink.Sink {
	c := redis.NewClient(&redis.Options{Addr: in.addr})
	t.Cleanup(func() { _ = c.Close() })
	return newSink(t, c, in.cfg)
}

func TestContract(t *testing.T) {
	testrig.RedisAddr(t) // skip the whole suite at once without Redis
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Inspector) {
		c := newClient(t)
		cfg := redissink.Config{Prefix: testPrefix(t, c)}
		return newSink(t, c, cfg), inspector{addr: c.Options().Addr, c: c, cfg: cfg}
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func trigger(id, channel string) journey.Trigger {
	return journey.Trigger{
		ID: id, Rule: "recent_interest", CustomerID: "c-" + id, Channel: channel,
		At: time.Date(2025, 11, 23, 10, 4, 5, 120000000, time.FixedZone("CET", 3600)),
	}
}

// The stream entry and key layout is the downstream contract: pin it.
func TestLayout(t *testing.T) {
	ctx := ctxT(t)
	c := newClient(t)
	cfg := redissink.Config{Prefix: testPrefix(t, c), ContextTTL: time.Hour, DedupTTL: 2 * time.Hour}
	s := newSink(t, c, cfg)

	tr := trigger("t1", "call_centre")
	tr.Reason = "low_csat"
	tr.Causes = []string{"ev-1", "ev-2"}
	tr.Payload = map[string]any{"score": 1, "survey": "s-9"}
	err := s.Deliver(ctx, sink.Batch{
		Triggers: []journey.Trigger{tr},
		Contexts: []sink.Context{{CustomerID: "c-t1", Fields: map[string]string{"service.last_score": "1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	msgs, err := c.XRange(ctx, cfg.Prefix+"triggers:call_centre", "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("XRANGE: %v, %d entries", err, len(msgs))
	}
	want := map[string]any{
		"id":          "t1",
		"rule":        "recent_interest",
		"customer_id": "c-t1",
		"channel":     "call_centre",
		"at":          "2025-11-23T09:04:05.120000000Z",
		"reason":      "low_csat",
		"causes":      `["ev-1","ev-2"]`,
		"payload":     `{"score":1,"survey":"s-9"}`,
	}
	if !reflect.DeepEqual(msgs[0].Values, want) {
		t.Errorf("entry fields:\n got  %v\n want %v", msgs[0].Values, want)
	}

	if v, err := c.Get(ctx, cfg.Prefix+"tid:t1").Result(); err != nil || v != "1" {
		t.Errorf("dedup key: %q, %v", v, err)
	}
	checkTTL(t, c, cfg.Prefix+"tid:t1", cfg.DedupTTL)
	ctxKey := cfg.Prefix + "ctx:c-t1"
	if h, err := c.HGetAll(ctx, ctxKey).Result(); err != nil || h["service.last_score"] != "1" {
		t.Errorf("context hash: %v, %v", h, err)
	}
	checkTTL(t, c, ctxKey, cfg.ContextTTL)

	// Each update refreshes the context TTL.
	if err := c.Expire(ctx, ctxKey, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, sink.Batch{Contexts: []sink.Context{{CustomerID: "c-t1", Fields: map[string]string{"x": "y"}}}}); err != nil {
		t.Fatal(err)
	}
	checkTTL(t, c, ctxKey, cfg.ContextTTL)
}

func checkTTL(t *testing.T, c *redis.Client, key string, want time.Duration) {
	t.Helper()
	got, err := c.TTL(ctxT(t), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got > want || got < want-time.Minute {
		t.Errorf("TTL of %s = %v, want about %v", key, got, want)
	}
}

func TestStreamTrimmed(t *testing.T) {
	ctx := ctxT(t)
	c := newClient(t)
	cfg := redissink.Config{Prefix: testPrefix(t, c), StreamMaxLen: 100}
	s := newSink(t, c, cfg)
	for batch := range 10 {
		var b sink.Batch
		for i := range 100 {
			b.Triggers = append(b.Triggers, trigger(fmt.Sprint(batch*100+i), "web"))
		}
		if err := s.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	n, err := c.XLen(ctx, cfg.StreamKey("web")).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole stream nodes (stream-node-max-entries, 100 by default).
	if n < 100 || n > 300 {
		t.Errorf("XLEN = %d after 1000 entries with StreamMaxLen 100", n)
	}
}

// A Redis restart empties the script cache: the sink reloads the script
// and resends, and de-duplication still holds.
func TestNoScript(t *testing.T) {
	ctx := ctxT(t)
	c := newClient(t)
	cfg := redissink.Config{Prefix: testPrefix(t, c)}
	s := newSink(t, c, cfg)
	in := inspector{c: c, cfg: cfg}

	if err := s.Deliver(ctx, sink.Batch{Triggers: []journey.Trigger{trigger("a", "web")}}); err != nil {
		t.Fatal(err)
	}
	for round, ids := range [][]string{{"a", "b"}, {"b", "c", "a"}} {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		b := sink.Batch{Contexts: []sink.Context{{CustomerID: "c1", Fields: map[string]string{"round": strconv.Itoa(round)}}}}
		for _, id := range ids {
			b.Triggers = append(b.Triggers, trigger(id, "web"))
		}
		if err := s.Deliver(ctx, b); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	got, err := in.Triggers(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range got {
		ids = append(ids, tr.ID)
	}
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids %q, want %q", ids, want)
	}
	if h, _ := in.Context(ctx, "c1"); h["round"] != "1" {
		t.Errorf("context %v, want round 1", h)
	}
}

// When XADD fails inside the script, the dedup key is removed again, so
// the retry after the fault is cleared delivers the trigger.
func TestFailedAddIsNotRemembered(t *testing.T) {
	ctx := ctxT(t)
	c := newClient(t)
	cfg := redissink.Config{Prefix: testPrefix(t, c)}
	s := newSink(t, c, cfg)
	b := sink.Batch{Triggers: []journey.Trigger{trigger("a", "web")}}

	// The stream key holds a string: XADD fails with WRONGTYPE.
	if err := c.Set(ctx, cfg.StreamKey("web"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := s.Deliver(ctx, b)
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Deliver onto a string key: %v, want WRONGTYPE", err)
	}
	if !errors.Is(err, sink.ErrRetriable) || sink.Reason(err) != "wrongtype" {
		t.Errorf("WRONGTYPE: %v (reason %q), want retriable, reason wrongtype", err, sink.Reason(err))
	}
	if n, _ := c.Exists(ctx, cfg.Prefix+"tid:a").Result(); n != 0 {
		t.Fatal("dedup key left behind by a failed XADD")
	}

	if err := c.Del(ctx, cfg.StreamKey("web")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.XLen(ctx, cfg.StreamKey("web")).Result(); n != 1 {
		t.Fatalf("XLEN = %d after the retry, want 1", n)
	}
}

// A WRONGTYPE on one channel's stream holds that channel's triggers only:
// the others and the contexts are delivered, the error names the held ones.
func TestWrongTypeHoldsOneChannel(t *testing.T) {
	ctx := ctxT(t)
	c := newClient(t)
	cfg := redissink.Config{Prefix: testPrefix(t, c)}
	s := newSink(t, c, cfg)
	if err := c.Set(ctx, cfg.StreamKey("email"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	b := sink.Batch{
		Triggers: []journey.Trigger{trigger("a", "email"), trigger("b", "call_centre"), trigger("c", "email"), trigger("d", "call_centre")},
		Contexts: []sink.Context{{CustomerID: "c-a", Fields: map[string]string{"x.y": "1"}}},
	}
	err := s.Deliver(ctx, b)
	var held *sink.Held
	if !errors.As(err, &held) || !errors.Is(err, sink.ErrRetriable) || sink.Reason(err) != "wrongtype" {
		t.Fatalf("Deliver: %v, want a retriable sink.Held, reason wrongtype", err)
	}
	if fmt.Sprint(held.Triggers) != "[0 2]" {
		t.Errorf("held %v, want [0 2]", held.Triggers)
	}
	if n, _ := c.XLen(ctx, cfg.StreamKey("call_centre")).Result(); n != 2 {
		t.Errorf("call_centre XLEN = %d, want 2", n)
	}
	if v, _ := c.HGet(ctx, cfg.ContextKey("c-a"), "x.y").Result(); v != "1" {
		t.Errorf("context not delivered: %q", v)
	}

	// Fixed: the retry delivers email, call_centre's are duplicates.
	if err := c.Del(ctx, cfg.StreamKey("email")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	for ch, want := range map[string]int64{"email": 2, "call_centre": 2} {
		if n, _ := c.XLen(ctx, cfg.StreamKey(ch)).Result(); n != want {
			t.Errorf("%s XLEN = %d, want %d", ch, n, want)
		}
	}
}

// aclUser creates a Redis ACL user with a random name allowed everything
// but XADD on the rig's Redis, removes it when t ends, and returns a client
// logged in as it.
func aclUser(t *testing.T, admin *redis.Client) (*redis.Client, string) {
	t.Helper()
	ctx := ctxT(t)
	user := fmt.Sprintf("journey-test-%d", time.Now().UnixNano())
	pass := fmt.Sprintf("pw-%d", time.Now().UnixNano())
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~*", "&*", "+@all", "-xadd").Err(); err != nil {
		t.Skipf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { _ = admin.Do(context.Background(), "ACL", "DELUSER", user).Err() })
	c := redis.NewClient(&redis.Options{Addr: admin.Options().Addr, Username: user, Password: pass})
	t.Cleanup(func() { _ = c.Close() })
	return c, user
}

// A denied XADD (an ACL) is retriable with reason noperm, and nothing is
// remembered: once granted, the trigger is delivered.
func TestNoPermIsRetriable(t *testing.T) {
	ctx := ctxT(t)
	admin := newClient(t)
	c, user := aclUser(t, admin)
	cfg := redissink.Config{Prefix: testPrefix(t, admin)}
	s := newSink(t, c, cfg)
	b := sink.Batch{Triggers: []journey.Trigger{trigger("a", "web")}}
	err := s.Deliver(ctx, b)
	var held *sink.Held
	if !errors.Is(err, sink.ErrRetriable) || sink.Reason(err) != "noperm" || errors.As(err, &held) {
		t.Fatalf("Deliver denied XADD: %v (reason %q), want retriable, reason noperm, not held", err, sink.Reason(err))
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "+xadd").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.XLen(ctx, cfg.StreamKey("web")).Result(); n != 1 {
		t.Fatalf("XLEN = %d after the grant, want 1", n)
	}
}

// With Redis unreachable, Deliver fails with a retriable error rather than
// waiting out the caller's deadline. How fast it fails is a figure, not a
// behaviour: BenchmarkDeliverUnreachable.
func TestUnreachableIsRetriable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testrig.ClosedPort(t)})
	t.Cleanup(func() { _ = c.Close() })
	s := newSink(t, c, redissink.Config{})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.Deliver(ctx, sink.Batch{Triggers: []journey.Trigger{trigger("a", "web")}})
	t.Logf("Deliver to a closed port: %v", err)
	if !errors.Is(err, sink.ErrRetriable) {
		t.Fatalf("error %v does not wrap ErrRetriable", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Deliver waited out the ctx deadline: %v", err)
	}
}

// BenchmarkDeliverUnreachable: the time Deliver takes to report a refused
// connection (go-redis retries the dial before giving up).
func BenchmarkDeliverUnreachable(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: testrig.ClosedPort(b)})
	b.Cleanup(func() { _ = c.Close() })
	s := newSink(b, c, redissink.Config{})
	batch := sink.Batch{Triggers: []journey.Trigger{trigger("a", "web")}}
	for b.Loop() {
		if err := s.Deliver(context.Background(), batch); !errors.Is(err, sink.ErrRetriable) {
			b.Fatalf("error %v does not wrap ErrRetriable", err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var c redissink.Config
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := redissink.Config{
		Prefix: redissink.DefaultPrefix, StreamMaxLen: redissink.DefaultStreamMaxLen,
		ContextTTL: redissink.DefaultContextTTL, DedupTTL: redissink.DefaultDedupTTL,
	}
	if c != want {
		t.Errorf("defaults: got %+v, want %+v", c, want)
	}

	for _, tc := range []struct {
		cfg   redissink.Config
		field string
	}{
		{redissink.Config{StreamMaxLen: -1}, "StreamMaxLen"},
		{redissink.Config{ContextTTL: -time.Hour}, "ContextTTL"},
		{redissink.Config{ContextTTL: 500 * time.Millisecond}, "ContextTTL"},
		{redissink.Config{DedupTTL: 1500 * time.Millisecond}, "DedupTTL"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "Config."+tc.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.field)
		}
		if _, err := redissink.New(redis.NewClient(&redis.Options{}), tc.cfg); err == nil {
			t.Errorf("New accepted %+v", tc.cfg)
		}
	}
}

func TestNewRefusesShardedClients(t *testing.T) {
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer cluster.Close()
	if _, err := redissink.New(cluster, redissink.Config{}); err == nil || !strings.Contains(err.Error(), "Cluster") {
		t.Errorf("New(ClusterClient) = %v, want an error", err)
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	defer ring.Close()
	if _, err := redissink.New(ring, redissink.Config{}); err == nil {
		t.Error("New(Ring) accepted")
	}
}

func TestKeys(t *testing.T) {
	var zero redissink.Config
	if got := zero.StreamKey("email"); got != "journey:triggers:email" {
		t.Errorf("StreamKey = %q", got)
	}
	if got := (redissink.Config{Prefix: "journey-shadow:"}).ContextKey("c1"); got != "journey-shadow:ctx:c1" {
		t.Errorf("ContextKey = %q", got)
	}
}

func TestDecodeTriggerErrors(t *testing.T) {
	good := map[string]any{
		"id": "t1", "rule": "r", "customer_id": "c", "channel": "web",
		"at": "2025-01-01T00:00:00.000000000Z", "reason": "", "causes": "[]", "payload": "{}",
	}
	if _, err := redissink.DecodeTrigger(redis.XMessage{ID: "1-0", Values: good}); err != nil {
		t.Fatal(err)
	}
	for field, bad := range map[string]any{
		"id": nil, "at": "yesterday", "causes": "{", "payload": "[1]", "rule": 7,
	} {
		v := make(map[string]any)
		for k, x := range good {
			v[k] = x
		}
		if bad == nil {
			delete(v, field)
		} else {
			v[field] = bad
		}
		if _, err := redissink.DecodeTrigger(redis.XMessage{ID: "1-0", Values: v}); err == nil {
			t.Errorf("field %s = %v: no error", field, bad)
		}
	}
}

func BenchmarkDeliver(b *testing.B) {
	c := newClient(b)
	for _, size := range []int{1, 64, 512} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			ctx := context.Background()
			s := newSink(b, c, redissink.Config{Prefix: testPrefix(b, c)})
			channels := []string{"web", "app", "email", "call_centre"}
			batch := sink.Batch{Triggers: make([]journey.Trigger, size)}
			at := time.Date(2025, 11, 23, 10, 4, 5, 0, time.UTC)
			n := 0
			for b.Loop() {
				for i := range batch.Triggers {
					n++
					id := strconv.Itoa(n)
					batch.Triggers[i] = journey.Trigger{
						ID: id, Rule: "recent_interest", CustomerID: "cust-" + id,
						Channel: channels[n%len(channels)], At: at, Reason: "category_interest",
						Causes: []string{"ev-" + id}, Payload: map[string]any{"category": "boots", "score": 3.5},
					}
				}
				if err := s.Deliver(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/trigger")
		})
	}
}

// A forget (a context deletion with Forget) also removes the customer's entries
// from every trigger stream under the prefix — over more than one XRANGE
// page — and their tid keys; other customers' entries and keys stay, and
// a second deletion (a retried batch) finds nothing more to do.
func TestForgetErasesStreamEntries(t *testing.T) {
	c := newClient(t)
	checkForgetErases(t, c, testPrefix(t, c))
}

// checkForgetErases is TestForgetErasesStreamEntries on c, under a prefix
// no other test uses.
func checkForgetErases(t *testing.T, c *redis.Client, prefix string) {
	ctx := ctxT(t)
	cfg := redissink.Config{Prefix: prefix + "[x]*"} // glob characters in the prefix are literal
	s := newSink(t, c, cfg)
	var b sink.Batch
	for i := range 2500 {
		for _, cust := range []string{"gone", "kept"} {
			tr := trigger(fmt.Sprintf("%s-%d", cust, i), []string{"email", "web"}[i%2])
			tr.CustomerID = cust
			b.Triggers = append(b.Triggers, tr)
		}
	}
	if err := s.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	// A prefix the unescaped pattern would match is not touched.
	other := redissink.Config{Prefix: prefix + "xy"}
	tr := trigger("gone-other", "email")
	tr.CustomerID = "gone"
	if err := newSink(t, c, other).Deliver(ctx, sink.Batch{Triggers: []journey.Trigger{tr}}); err != nil {
		t.Fatal(err)
	}
	// A deletion alone (an identity merge's) leaves the streams be.
	if err := s.Deliver(ctx, sink.Batch{Contexts: []sink.Context{{CustomerID: "gone", Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.XLen(ctx, cfg.StreamKey("email")).Result(); err != nil || n != 2500 {
		t.Fatalf("after a deletion that is not a forget: %d entries in the email stream (%v), want 2500", n, err)
	}
	for range 2 {
		if err := s.Deliver(ctx, sink.Batch{Contexts: []sink.Context{{CustomerID: "gone", Delete: true, Forget: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	in := inspector{c: c, cfg: cfg}
	kept := 0
	for _, ch := range []string{"email", "web"} {
		ts, err := in.Triggers(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range ts {
			if tr.CustomerID != "kept" {
				t.Fatalf("stream %s still holds %s's trigger %s", ch, tr.CustomerID, tr.ID)
			}
			kept++
		}
	}
	if kept != 2500 {
		t.Errorf("%d of kept's 2500 entries left", kept)
	}
	for _, id := range []string{"gone-0", "gone-2499", "kept-0", "kept-2499"} {
		n, err := c.Exists(ctx, cfg.Prefix+"tid:"+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(map[bool]int{true: 1}[id[0] == 'k']); n != want {
			t.Errorf("tid key of %s: exists %d, want %d", id, n, want)
		}
	}
	if n, err := c.XLen(ctx, other.StreamKey("email")).Result(); err != nil || n != 1 {
		t.Errorf("the other prefix's stream: %d entries (%v), want 1", n, err)
	}
}
