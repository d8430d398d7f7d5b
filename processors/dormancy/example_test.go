package dormancy_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/dormancy"
)

// A customer who last engaged on 1 November is dormant 30 days later; the
// runner fires the timer when the partition's watermark gets there.
func Example() {
	p, err := dormancy.New(dormancy.DefaultConfig())
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
	for _, ev := range []*journey.Event{
		{ID: "evt-1", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "cust-42", Channel: "web", Time: t0},
		{ID: "evt-2", Kind: journey.KindTrack, Name: "Email Delivered", CustomerID: "cust-42", Channel: "email", Time: t0.Add(24 * time.Hour)},
	} {
		if err := runner.Apply(ev, &out); err != nil {
			panic(err)
		}
	}
	if err := runner.Advance(t0.Add(31*24*time.Hour), &out); err != nil {
		panic(err)
	}
	for _, t := range out.Triggers {
		fmt.Println(t.Rule, "->", t.Channel, "at", t.At.Format(time.RFC3339), "causes", t.Causes)
		fmt.Println("last engaged:", t.Payload["last_engaged"], "days:", t.Payload["days"])
	}
	// Output:
	// dormancy.winback -> email at 2026-12-01T18:02:00Z causes [evt-1]
	// last engaged: 2026-11-01T18:02:00Z days: 30
}
