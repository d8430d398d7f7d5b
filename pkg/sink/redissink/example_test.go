package redissink_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/redissink"
)

// A downstream service — here the email service — reads its channel's
// trigger stream with a consumer group, looks up the customer's context,
// and acknowledges each entry once handled. Run several copies with
// different consumer names to share the work. examples/redis-consumer is
// the complete program (pending entries after a crash, a lost group,
// backoff that grows).
func Example_consumer() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()

	var cfg redissink.Config         // default prefix "journey:"
	stream := cfg.StreamKey("email") // "journey:triggers:email"
	const group, consumer = "email-service", "email-service-1"

	// Once per group: "$" starts at new entries, "0" at the oldest kept.
	err := rdb.XGroupCreateMkStream(ctx, stream, group, "$").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		log.Fatal(err)
	}

	for ctx.Err() == nil {
		// ">" asks for entries never delivered to this group. After a crash,
		// read your pending ones first with ID "0", or XAUTOCLAIM other
		// consumers' stale ones.
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    group,
			Consumer: consumer,
			Streams:  []string{stream, ">"},
			Count:    100,
			Block:    5 * time.Second,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue // nothing new within Block
		}
		if err != nil {
			if ctx.Err() != nil {
				return // stopping
			}
			log.Printf("XREADGROUP: %v", err) // Redis down, a dropped connection: back off
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, msg := range res[0].Messages {
			t, err := redissink.DecodeTrigger(msg)
			if err != nil {
				log.Printf("entry %s: %v", msg.ID, err)
			} else {
				// t.ID is stable across replays: keep it if you must not act twice.
				cx, _ := rdb.HGetAll(ctx, cfg.ContextKey(t.CustomerID)).Result()
				fmt.Println(t.Rule, t.Reason, t.At, t.Payload, cx["interest.top"])
			}
			if err := rdb.XAck(ctx, stream, group, msg.ID).Err(); err != nil {
				log.Printf("XACK %s: %v", msg.ID, err)
			}
		}
	}
}

// The processor side: build a Sink and deliver a batch, retrying while
// Redis is unavailable.
func ExampleNew() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer rdb.Close()

	s, err := redissink.New(rdb, redissink.Config{Prefix: "journey:"})
	if err != nil {
		log.Fatal(err)
	}
	b := sink.Batch{
		Triggers: []journey.Trigger{{
			ID:         journey.TriggerID("cart_abandoned", "cust-42", "cart-7"),
			Rule:       "cart_abandoned",
			CustomerID: "cust-42",
			Channel:    "email",
			At:         time.Now(),
			Reason:     "cart_idle_1h",
			Causes:     []string{"evt-1001"},
			Payload:    map[string]any{"cart_id": "cart-7"},
		}},
		Contexts: []sink.Context{{CustomerID: "cust-42", Fields: map[string]string{"cart.open": "1"}}},
	}
	for {
		err := s.Deliver(ctx, b)
		if err == nil {
			break
		}
		if !errors.Is(err, sink.ErrRetriable) {
			log.Fatal(err) // a bug or a misconfiguration: stop
		}
		// Back off; the outbox keeps the batch meanwhile.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
