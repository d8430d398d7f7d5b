package cart_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
)

// A cart left alone for the timeout is abandoned when the partition's
// watermark reaches its deadline. The runner drives the timer, as the
// pipeline does.
func Example() {
	p, err := cart.New(cart.DefaultConfig())
	if err != nil {
		panic(err)
	}
	engine, err := journey.NewEngine(p)
	if err != nil {
		panic(err)
	}
	// A store would load the customers' states; these are all new.
	runner := journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	runner.Timers = new(journey.MemTimers)

	var out journey.Output
	t0 := time.Date(2026, 11, 1, 18, 2, 0, 0, time.UTC)
	for i, product := range []string{"sku-231", "sku-877"} {
		ev := &journey.Event{
			ID: fmt.Sprintf("evt-%d", i+1), Kind: journey.KindTrack, Name: cart.EventProductAdded,
			CustomerID: "cust-42", Channel: "web", Time: t0.Add(time.Duration(i) * 10 * time.Minute),
			Properties: map[string]any{"cart_id": "cart-7", "product_id": product, "price": 89.5, "currency": "EUR"},
		}
		if err := runner.Apply(ev, &out); err != nil {
			panic(err)
		}
	}
	// No more events: an idle partition's watermark follows the clock.
	if err := runner.Advance(t0.Add(2*time.Hour), &out); err != nil {
		panic(err)
	}
	for _, t := range out.Triggers {
		fmt.Println(t.Rule, "->", t.Channel, "at", t.At.Format(time.RFC3339))
		fmt.Println("causes:", t.Causes)
		fmt.Println("products:", t.Payload["product_ids"], "value:", t.Payload["value"], t.Payload["currency"])
	}
	c, _ := runner.Customer("cust-42")
	fmt.Println(engine.Context(c)[cart.ContextAbandonedAt])
	// Output:
	// cart.abandoned -> email at 2026-11-01T19:12:00Z
	// causes: [evt-1 evt-2]
	// products: [sku-231 sku-877] value: 179 EUR
	// 2026-11-01T19:12:00Z
}
