package interest_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/interest"
)

// Three views of winter boots within a week, on the web and in the app,
// make one trigger for the email channel.
func ExampleProcessor_Fold() {
	p, err := interest.New(interest.DefaultConfig())
	if err != nil {
		panic(err)
	}
	st := p.NewState() // a customer never seen; a store would load it
	var out journey.Output
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for i, channel := range []string{"web", "app", "web"} {
		ev := &journey.Event{
			ID:         fmt.Sprintf("evt-%d", i+1),
			Kind:       journey.KindTrack,
			Name:       "Product Viewed",
			CustomerID: "cust-42",
			Channel:    channel,
			Time:       t0.Add(time.Duration(i) * 24 * time.Hour),
			Properties: map[string]any{"product_id": "sku-231", "category": "Footwear/Winter Boots"},
		}
		if _, err := p.Fold(st, ev, &out); err != nil {
			panic(err)
		}
	}
	for _, t := range out.Triggers {
		fmt.Println(t.Rule, "->", t.Channel, "at", t.At.Format(time.RFC3339))
		fmt.Println("causes:", t.Causes)
		fmt.Println("category:", t.Payload["category"], "views:", t.Payload["views"], "products:", t.Payload["product_ids"])
	}
	fmt.Println(p.Context(st)[interest.ContextTop])
	// Output:
	// interest.category -> email at 2026-11-03T09:00:00Z
	// causes: [evt-1 evt-2 evt-3]
	// category: Footwear/Winter Boots views: 3 products: [sku-231]
	// [{"category":"Footwear/Winter Boots","views":3,"last_seen":"2026-11-03T09:00:00Z"}]
}
