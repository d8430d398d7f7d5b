package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testrig"
)

// A WRONGTYPE on journey's email stream (issue 23): journey does not crash,
// keeps the triggers, /readyz answers 503 with the reason; once the key is
// removed the triggers arrive, once each, and /readyz answers 200 again.
// (That other channels keep flowing meanwhile is pkg/outbox's
// TestWrongTypeHoldsEmailNotCallCentre.)
func TestDeliveryFailingWrongType(t *testing.T) {
	e := newRigEnv(t, 1)
	ctx := context.Background()
	stream := e.prefix + "triggers:email"
	if err := e.rdb.Set(ctx, stream, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.rdb.Del(context.Background(), stream).Err() })
	cfg := e.config(t, `processors:
  interest:
    threshold: 2
    target: email
  policy:
    quiet_hours:
      channels: []
`)
	c := startChild(t, "run", "--config", cfg)
	at := time.Now().Add(-10 * time.Minute).UTC()
	for i, u := range []string{"u-1", "u-1", "u-2", "u-2"} {
		kcatProduce(t, e.brokers, e.topic, nil, fmt.Sprintf(
			`%s|{"type":"track","messageId":"m-%d","userId":"%s","event":"Product Viewed","timestamp":"%s",`+
				`"context":{"channel":"web","consent":{"email":true}},"properties":{"product_id":"p-%d","category":"boots"}}`,
			u, i, u, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), i))
	}

	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey exited on WRONGTYPE:\n%s", c.tail(30))
		default:
		}
		code, b, err := c.adminGet("/readyz")
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "delivery failing: wrongtype") {
			return fmt.Errorf("/readyz %d: %s", code, b)
		}
		return nil
	})

	if err := e.rdb.Del(ctx, stream).Err(); err != nil {
		t.Fatal(err)
	}
	c.waitReady(t, time.Minute)
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		n, err := e.rdb.XLen(ctx, stream).Result()
		if err != nil || n < 2 {
			return fmt.Errorf("%d of 2 triggers in %s (%v)", n, stream, err)
		}
		return nil
	})
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	ids, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Fatalf("trigger ids %v, want 2", ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("trigger %s delivered %d times", id, n)
		}
	}
	if !strings.Contains(c.output(), `"reason":"wrongtype"`) {
		t.Error("no log line with the failure's reason")
	}
}
