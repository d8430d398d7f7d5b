package engagement_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/engagement"
)

// A like, a share and a comment make a new customer active; a purchase a
// week later makes them an advocate. The engine (here without a contact
// policy) delivers the tier changes.
func ExampleProcessor_Fold() {
	p, err := engagement.New(engagement.DefaultConfig())
	if err != nil {
		panic(err)
	}
	engine, err := journey.NewEngine(p)
	if err != nil {
		panic(err)
	}
	c := engine.NewCustomer("cust-42")
	c.States[0] = p.NewState() // a customer never seen; a store would load it
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	var out journey.Output
	for i, name := range []string{"Product Liked", "Product Shared", "Comment Posted", "Order Completed", "Order Completed", "Order Completed"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		if i >= 3 {
			at = t0.Add(7 * 24 * time.Hour)
		}
		ev := &journey.Event{ID: fmt.Sprintf("evt-%d", i+1), Kind: journey.KindTrack, Name: name, CustomerID: "cust-42", Channel: "social", Time: at}
		if err := engine.Fold(c, ev, &out); err != nil {
			panic(err)
		}
	}
	for _, t := range out.Triggers {
		fmt.Println(t.Rule, t.Reason, t.Payload["from"], "->", t.Payload["to"], "score", t.Payload["score"], "on", t.Causes)
	}
	ctx := p.Context(c.States[0])
	fmt.Println(ctx[engagement.ContextTier], ctx[engagement.ContextScore])
	// Output:
	// engagement.tier tier_up at_risk -> active score 9 on [evt-3]
	// engagement.tier tier_up active -> advocate score 36.4 on [evt-6]
	// advocate 36.4
}
