package policy_test

import (
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/policy"
)

// A customer in Paris opted in to email; a trigger late in the evening is
// held until 08:00 local time, then released; a second one that day hits
// the rule's cooldown.
func ExampleProcessor_Admit() {
	p, err := policy.New(policy.DefaultConfig())
	if err != nil {
		panic(err)
	}
	st := p.NewState() // a customer never seen; a store would load it
	var out journey.Output

	consent := &journey.Event{
		ID: "evt-1", Kind: journey.KindIdentify, CustomerID: "cust-42",
		Time:     time.Date(2026, 11, 2, 18, 0, 0, 0, time.UTC),
		TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true},
	}
	if _, err := p.Fold(st, consent, &out); err != nil {
		panic(err)
	}

	at := time.Date(2026, 11, 2, 21, 30, 0, 0, time.UTC) // 22:30 in Paris
	tr := journey.Trigger{
		ID: journey.TriggerID("cart.abandoned", "cust-42", "cart-7"), Rule: "cart.abandoned",
		CustomerID: "cust-42", Channel: journey.PreferredChannel, At: at, Reason: "cart_abandoned",
	}
	if _, err := p.Admit(st, tr, at, journey.PolicyEnv{}, &out); err != nil {
		panic(err)
	}
	for _, op := range out.Timers {
		fmt.Println("held until", op.At.Format(time.RFC3339), "timer held/<trigger id>:", op.Key == "held/"+tr.ID)
	}

	// The pipeline fires the timer when its watermark reaches it.
	if _, err := p.OnTimer(st, "cust-42", out.Timers[0].Key, out.Timers[0].At, &out); err != nil {
		panic(err)
	}
	later := out.Timers[0].At.Add(3 * time.Hour)
	tr2 := tr
	tr2.ID, tr2.At = journey.TriggerID("cart.abandoned", "cust-42", "cart-8"), later
	if _, err := p.Admit(st, tr2, later, journey.PolicyEnv{}, &out); err != nil {
		panic(err)
	}

	for _, t := range out.Triggers {
		fmt.Println("admitted", t.Rule, "->", t.Channel, "same id:", t.ID == tr.ID)
	}
	for _, s := range out.Suppressed {
		fmt.Println("suppressed", s.Trigger.Rule, "->", s.Trigger.Channel+":", s.Reason)
	}
	fmt.Println(p.Context(st)[policy.ContextLastContact])
	// Output:
	// held until 2026-11-03T07:00:00Z timer held/<trigger id>: true
	// admitted cart.abandoned -> email same id: true
	// suppressed cart.abandoned -> email: cooldown
	// {"email":"2026-11-03T07:00:00Z"}
}
