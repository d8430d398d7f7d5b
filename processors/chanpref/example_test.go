package chanpref_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/chanpref"
)

// A customer in Paris ignores emails but taps push notifications in the
// evening: push is the channel to route "preferred" triggers to, and 19h
// (Paris time) the hour they respond at.
func ExampleProcessor_PreferredChannel() {
	p, err := chanpref.New(chanpref.DefaultConfig())
	if err != nil {
		panic(err)
	}
	st := p.NewState() // a customer never seen; a store would load it
	var out journey.Output
	t0 := time.Date(2026, 11, 2, 18, 10, 0, 0, time.UTC) // 19:10 in Paris
	for i, name := range []string{"Email Opened", "Push Notification Tapped", "Push Notification Tapped"} {
		ev := &journey.Event{
			ID: fmt.Sprintf("evt-%d", i+1), Kind: journey.KindTrack, Name: name, CustomerID: "cust-42",
			Time: t0.Add(time.Duration(i) * 24 * time.Hour), TimeZone: "Europe/Paris",
		}
		if _, err := p.Fold(st, ev, &out); err != nil {
			panic(err)
		}
	}
	fmt.Println(p.PreferredChannel(st, t0.Add(72*time.Hour)))
	fmt.Println(p.Context(st)[chanpref.ContextBestHour])
	// Output:
	// push
	// 19
}
