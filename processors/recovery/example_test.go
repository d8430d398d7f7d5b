package recovery_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/recovery"
)

// A 1-star review asks the call centre to recover the customer; the
// complaint that follows within the debounce makes no second call, and
// the context shows the agent both.
func ExampleProcessor_Fold() {
	p, err := recovery.New(recovery.DefaultConfig())
	if err != nil {
		panic(err)
	}
	engine, err := journey.NewEngine(p)
	if err != nil {
		panic(err)
	}
	c := engine.NewCustomer("cust-42")
	c.States[0] = p.NewState() // a customer never seen; a store would load it
	t0 := time.Date(2026, 11, 2, 18, 2, 0, 0, time.UTC)
	var out journey.Output
	for _, ev := range []*journey.Event{
		{ID: "evt-1", Kind: journey.KindTrack, Name: "Product Reviewed", CustomerID: "cust-42", Channel: "web", Time: t0,
			Properties: map[string]any{"product_id": "sku-231", "rating": 1.0}},
		{ID: "evt-2", Kind: journey.KindTrack, Name: "Complaint Submitted", CustomerID: "cust-42", Channel: "call_centre", Time: t0.Add(3 * time.Hour),
			Properties: map[string]any{"complaint_id": "cmp-7"}},
	} {
		if err := engine.Fold(c, ev, &out); err != nil {
			panic(err)
		}
	}
	for _, t := range out.Triggers {
		fmt.Println(t.Rule, "->", t.Channel, t.Reason, t.Payload["reasons"], t.Causes)
	}
	fmt.Println(p.Context(c.States[0])[recovery.ContextLast])
	// Output:
	// recovery.negative -> call_centre negative_feedback [low_rating] [evt-1]
	// {"at":"2026-11-02T21:02:00Z","reasons":["complaint","low_rating"],"triggered_at":"2026-11-02T18:02:00Z","signals":[{"at":"2026-11-02T21:02:00Z","complaint_id":"cmp-7","reason":"complaint"},{"at":"2026-11-02T18:02:00Z","product_id":"sku-231","rating":1,"reason":"low_rating"}]}
}
