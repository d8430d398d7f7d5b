package redissink_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/sink/sinktest"
)

// TestContractMiniredis runs the sink contract suite against miniredis, the
// in-process Redis `journey dev` embeds: the sink's Lua script (SET NX, then
// XADD MAXLEN ~), HSET + EXPIRE and EVALSHA/NOSCRIPT handling must work
// there as on a real Redis. It needs no services, so it runs in -short mode.
func TestContractMiniredis(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Inspector) {
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { _ = c.Close() })
		cfg := redissink.Config{Prefix: "journey:"}
		return newSink(t, c, cfg), inspector{addr: m.Addr(), c: c, cfg: cfg}
	})
}

// TestMiniredisTrimsAndExpires: on miniredis too, streams are trimmed to
// about StreamMaxLen and the context hash and trigger-id keys get their
// TTLs.
func TestMiniredisTrimsAndExpires(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	cfg := redissink.Config{Prefix: "journey:", StreamMaxLen: 10, ContextTTL: time.Hour, DedupTTL: 2 * time.Hour}
	s := newSink(t, c, cfg)
	ctx := context.Background()
	var b sink.Batch
	for i := range 50 {
		b.Triggers = append(b.Triggers, trigger(fmt.Sprintf("t%d", i), "email"))
	}
	b.Contexts = []sink.Context{{CustomerID: "c-1", Fields: map[string]string{"last_channel": "web"}}}
	if err := s.Deliver(ctx, b); err != nil {
		t.Fatal(err)
	}
	n, err := c.XLen(ctx, cfg.StreamKey("email")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 || n >= 50 {
		t.Errorf("stream holds %d entries after 50 with MAXLEN ~ 10", n)
	}
	if ttl := m.TTL(cfg.ContextKey("c-1")); ttl != time.Hour {
		t.Errorf("context TTL %v, want 1h", ttl)
	}
	if ttl := m.TTL("journey:tid:" + b.Triggers[0].ID); ttl != 2*time.Hour {
		t.Errorf("trigger-id TTL %v, want 2h", ttl)
	}
}

// TestMiniredisForgetErases: journey forget's stream erase (SCAN TYPE,
// XRANGE with an exclusive start, XDEL) works on miniredis too.
func TestMiniredisForgetErases(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	checkForgetErases(t, c, "journey:")
}
