package interest_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/interest"
)

// Three views of winter boots in one evening, on the web and in the app,
// make one trigger for the email channel. The same three views a day
// apart do not: with the default 72-hour half-life the older ones weigh
// less, and the interest is 2.4, short of the threshold of 3.
func ExampleProcessor_Fold() {
	p, err := interest.New(interest.DefaultConfig())
	if err != nil {
		panic(err)
	}
	engine, err := journey.NewEngine(p)
	if err != nil {
		panic(err)
	}
	t0 := time.Date(2026, 11, 1, 18, 0, 0, 0, time.UTC)
	var out journey.Output
	for _, tc := range []struct {
		customer string
		apart    time.Duration
	}{{"cust-42", 40 * time.Minute}, {"cust-43", 24 * time.Hour}} {
		c := engine.NewCustomer(tc.customer)
		c.States[0] = p.NewState() // a customer never seen; a store would load it
		for i, channel := range []string{"web", "app", "web"} {
			ev := &journey.Event{
				ID:         fmt.Sprintf("%s-evt-%d", tc.customer, i+1),
				Kind:       journey.KindTrack,
				Name:       "Product Viewed",
				CustomerID: tc.customer,
				Channel:    channel,
				Time:       t0.Add(time.Duration(i) * tc.apart),
				Properties: map[string]any{"product_id": "sku-231", "category": "Footwear/Winter Boots"},
			}
			if err := engine.Fold(c, ev, &out); err != nil {
				panic(err)
			}
		}
		fmt.Println(tc.customer, p.Context(c.States[0])[interest.ContextTop])
	}
	for _, t := range out.Triggers {
		fmt.Println(t.Rule, "->", t.Channel, "for", t.CustomerID, "at", t.At.Format(time.RFC3339))
		fmt.Println("causes:", t.Causes)
		fmt.Println("category:", t.Payload["category"], "interest:", t.Payload["interest"], "products:", t.Payload["product_ids"])
	}
	// Output:
	// cust-42 [{"category":"Footwear/Winter Boots","views":3,"last_seen":"2026-11-01T19:20:00Z","interest":3}]
	// cust-43 [{"category":"Footwear/Winter Boots","views":3,"last_seen":"2026-11-03T18:00:00Z","interest":2.4}]
	// interest.category -> email for cust-42 at 2026-11-01T19:20:00Z
	// causes: [cust-42-evt-1 cust-42-evt-2 cust-42-evt-3]
	// category: Footwear/Winter Boots interest: 3 products: [sku-231]
}
