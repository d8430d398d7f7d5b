package outbox

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/redissink"
)

// failing records the partition's delivery state as /readyz sees it.
type failing struct {
	mu     sync.Mutex
	reason string
}

func (f *failing) Delivered(int, int, int, []time.Duration) { f.set("") }
func (f *failing) DeliveryFailed(_ int, err error)          { f.set(sink.Reason(err)) }
func (f *failing) Handed(int, time.Duration, time.Duration) {}
func (f *failing) Depth(int, int64)                         {}
func (f *failing) set(r string)                             { f.mu.Lock(); f.reason = r; f.mu.Unlock() }
func (f *failing) get() string                              { f.mu.Lock(); defer f.mu.Unlock(); return f.reason }

// On the rig's Redis: a WRONGTYPE on the email stream holds email's
// triggers in the outbox while call_centre's are delivered, past the head
// batch; once the key is fixed email's arrive, once each, in order.
func TestWrongTypeHoldsEmailNotCallCentre(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testrig.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := redissink.Config{Prefix: fmt.Sprintf("journey-test-prefix:%d:", time.Now().UnixNano())}
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), cfg.Prefix+"*").Result()
		if len(keys) > 0 {
			_ = c.Unlink(context.Background(), keys...).Err()
		}
	})
	s, err := redissink.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, cfg.StreamKey("email"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}

	p := openPartition(t)
	const n = 20 // per channel, over MaxBatch: call_centre flows past the held head batch
	b := p.NewBatch()
	for i := range n {
		for _, ch := range []string{"email", "call_centre"} {
			tr := journey.Trigger{ID: fmt.Sprintf("%s-%02d", ch, i), Rule: "r", CustomerID: "c", Channel: ch, At: time.Unix(int64(i), 0)}
			data, err := EncodeTrigger(&tr, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			b.Append(KindTrigger, data)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	obs := &failing{}
	d := NewDispatcher(p, s, Config{MaxBatch: 4, MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}, zap.NewNop(), obs)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	xlen := func(ch string) int64 { n, _ := c.XLen(ctx, cfg.StreamKey(ch)).Result(); return n }
	checkFor(t, 10*time.Second, func() error {
		if got := xlen("call_centre"); got != n {
			return fmt.Errorf("call_centre has %d triggers, want %d", got, n)
		}
		if r := obs.get(); r != "wrongtype" {
			return fmt.Errorf("failing reason %q, want wrongtype", r)
		}
		return nil
	})
	if p.OutboxDepth() != 2*n {
		t.Fatalf("outbox depth %d while email is held, want %d (kept)", p.OutboxDepth(), 2*n)
	}

	if err := c.Del(ctx, cfg.StreamKey("email")).Err(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if p.OutboxDepth() != 0 {
			return fmt.Errorf("outbox depth %d", p.OutboxDepth())
		}
		if r := obs.get(); r != "" {
			return fmt.Errorf("still failing: %q", r)
		}
		return nil
	})
	for _, ch := range []string{"email", "call_centre"} {
		msgs, err := c.XRange(ctx, cfg.StreamKey(ch), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != n {
			t.Fatalf("%s has %d triggers, want %d (once each)", ch, len(msgs), n)
		}
		for i, m := range msgs {
			if want := fmt.Sprintf("%s-%02d", ch, i); m.Values[redissink.FieldID] != want {
				t.Fatalf("%s entry %d is %v, want %s", ch, i, m.Values[redissink.FieldID], want)
			}
		}
	}
}
