package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/redissink"
)

// syncBuffer is a bytes.Buffer the consumer writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// prefix is a key prefix of the test's own on the shared Redis.
func prefix(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "test-consumer-" + hex.EncodeToString(b[:]) + ":"
}

// started runs the command with args in the background and returns its
// output and its result.
func started(ctx context.Context, args ...string) (stdout, stderr *syncBuffer, done chan error) {
	stdout, stderr, done = &syncBuffer{}, &syncBuffer{}, make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	return stdout, stderr, done
}

// waitGroups waits until the consumer created its group on every stream:
// it starts at "$", so triggers added before are not its.
func waitGroups(t *testing.T, rdb *redis.Client, group string, streams ...string) {
	t.Helper()
	testrig.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		for _, s := range streams {
			gs, err := rdb.XInfoGroups(context.Background(), s).Result()
			if err != nil {
				return err
			}
			if len(gs) != 1 || gs[0].Name != group {
				return fmt.Errorf("%s has groups %v", s, gs)
			}
		}
		return nil
	})
}

func trigger(rule, customer, channel, cause string) journey.Trigger {
	return journey.Trigger{
		ID: journey.TriggerID(rule, customer, cause), Rule: rule, CustomerID: customer, Channel: channel,
		At: time.Now(), Reason: "test_" + rule, Causes: []string{cause}, Payload: map[string]any{"n": 1},
	}
}

func wait(t *testing.T, done chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("the consumer did not stop within %s", within)
		return nil
	}
}

// TestConsumer delivers triggers with journey's own sink to the real Redis
// and checks the consumer prints each with the customer's context, acks
// them all, and stops at -max.
func TestConsumer(t *testing.T) {
	addr := testrig.RedisAddr(t)
	pfx := prefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	keys := redissink.Config{Prefix: pfx}
	email, cc := keys.StreamKey("email"), keys.StreamKey("call_centre")
	t.Cleanup(func() { rdb.Del(context.Background(), email, cc, keys.ContextKey("cust-1"), keys.ContextKey("cust-2")) })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdout, stderr, done := started(ctx, "-addr", addr, "-prefix", pfx, "-channels", "email, call_centre",
		"-group", "g", "-max", "3", "-duration", "50s")
	waitGroups(t, rdb, "g", email, cc)

	snk, err := redissink.New(rdb, keys)
	if err != nil {
		t.Fatal(err)
	}
	err = snk.Deliver(ctx, sink.Batch{
		Triggers: []journey.Trigger{
			trigger("cart.abandoned", "cust-1", "email", "e1"),
			trigger("recovery.negative", "cust-2", "call_centre", "e2"),
			trigger("interest.category", "cust-1", "email", "e3"),
		},
		Contexts: []sink.Context{
			{CustomerID: "cust-1", Fields: map[string]string{"last_channel": "web"}},
			{CustomerID: "cust-2", Fields: map[string]string{"last_channel": "store"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t, done, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out := stdout.String()
	for _, want := range []string{
		"email        cart.abandoned       test_cart.abandoned cust-1 last_channel=web",
		"call_centre  recovery.negative    test_recovery.negative cust-2 last_channel=store",
		"email        interest.category    test_interest.category cust-1 last_channel=web",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d lines for 3 triggers:\n%s", n, out)
	}
	for _, s := range []string{email, cc} {
		p, err := rdb.XPending(context.Background(), s, "g").Result()
		if err != nil {
			t.Fatal(err)
		}
		if p.Count != 0 {
			t.Errorf("%s: %d entries not acknowledged", s, p.Count)
		}
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestConsumerPending: an entry delivered to the consumer before a crash,
// never acknowledged, is handled when it starts again; an entry that is
// not a trigger is logged and acknowledged, not delivered forever.
func TestConsumerPending(t *testing.T) {
	addr := testrig.RedisAddr(t)
	pfx := prefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	stream := redissink.Config{Prefix: pfx}.StreamKey("email")
	t.Cleanup(func() { rdb.Del(ctx, stream) })
	if err := rdb.XGroupCreateMkStream(ctx, stream, "g", "$").Err(); err != nil {
		t.Fatal(err)
	}
	snk, err := redissink.New(rdb, redissink.Config{Prefix: pfx})
	if err != nil {
		t.Fatal(err)
	}
	if err := snk.Deliver(ctx, sink.Batch{Triggers: []journey.Trigger{trigger("cart.abandoned", "cust-9", "email", "e9")}}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"not", "a trigger"}}).Err(); err != nil {
		t.Fatal(err)
	}
	// The crashed run: read, never acknowledged.
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "consumer-1", Streams: []string{stream, ">"}}).Result()
	if err != nil || len(res[0].Messages) != 2 {
		t.Fatalf("XREADGROUP: %v %v", res, err)
	}

	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stdout, stderr, done := started(rctx, "-addr", addr, "-prefix", pfx, "-group", "g", "-max", "2", "-duration", "50s")
	if err := wait(t, done, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout.String(), "cart.abandoned") {
		t.Errorf("the pending trigger was not handled:\n%s", stdout)
	}
	if !strings.Contains(stderr.String(), "no id field") {
		t.Errorf("the entry that is not a trigger was not reported:\n%s", stderr)
	}
	if p, err := rdb.XPending(ctx, stream, "g").Result(); err != nil || p.Count != 0 {
		t.Errorf("pending after the restart: %+v %v", p, err)
	}
}

// TestConsumerStops: Ctrl-C (a cancelled context) while it waits for
// triggers ends it without an error, within the read's Block.
func TestConsumerStops(t *testing.T) {
	addr := testrig.RedisAddr(t)
	pfx := prefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	stream := redissink.Config{Prefix: pfx}.StreamKey("email")
	t.Cleanup(func() { rdb.Del(context.Background(), stream) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, stderr, done := started(ctx, "-addr", addr, "-prefix", pfx)
	waitGroups(t, rdb, "example-service", stream)
	cancel()
	if err := wait(t, done, 10*time.Second); err != nil {
		t.Errorf("stopped with %v\n%s", err, stderr)
	}
}

// TestConsumerRedisDown: with Redis gone after start (here: a server that
// accepts and closes every connection), reads fail; the consumer logs,
// backs off and keeps going instead of panicking, and stops cleanly.
func TestConsumerRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	var stderr syncBuffer
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	c := &consumer{
		rdb: rdb, keys: redissink.Config{}, streams: []string{"journey:triggers:email"}, group: "g", name: "c",
		out: &syncBuffer{}, log: newLogger(&stderr), backoff: 10 * time.Millisecond, maxBackoff: 40 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.consume(ctx, 0)
		done <- err
	}()
	testrig.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := strings.Count(stderr.String(), "XREADGROUP: "); n < 3 {
			return fmt.Errorf("%d failed reads logged", n)
		}
		return nil
	})
	cancel()
	if err := wait(t, done, 5*time.Second); err != nil {
		t.Errorf("stopped with %v", err)
	}
	if !strings.Contains(stderr.String(), "(again in 40ms)") {
		t.Errorf("no backoff up to the limit in:\n%s", stderr.String())
	}
}

// TestConsumerMaxNotReached: fewer triggers than -max within -duration is
// an error (the quick-start script relies on it); Ctrl-C before -max is
// not.
func TestConsumerMaxNotReached(t *testing.T) {
	addr := testrig.RedisAddr(t)
	pfx := prefix(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	stream := redissink.Config{Prefix: pfx}.StreamKey("email")
	t.Cleanup(func() { rdb.Del(context.Background(), stream) })

	_, _, done := started(context.Background(), "-addr", addr, "-prefix", pfx, "-max", "1", "-duration", "500ms")
	err := wait(t, done, 10*time.Second)
	if err == nil || err.Error() != "0 of -max 1 triggers within -duration 500ms" {
		t.Errorf("got %v, want 0 of -max 1 triggers within -duration 500ms", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	_, _, done = started(ctx, "-addr", addr, "-prefix", pfx, "-max", "1")
	waitGroups(t, rdb, "example-service", stream)
	cancel()
	if err := wait(t, done, 10*time.Second); err != nil {
		t.Errorf("Ctrl-C before -max: %v", err)
	}
}
