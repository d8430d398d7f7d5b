package processortest

import (
	"strings"
	"testing"

	"github.com/journey-dev/journey/pkg/journey"
)

// CheckConfig asserts one case of a processor's config validation. With no
// want, validate and build must both succeed. Otherwise validate must fail
// with an error containing every want (field names, reasons), and build
// (the processor's New on the same config) must fail with that same error.
func CheckConfig(t testing.TB, validate, build func() error, want []string) {
	t.Helper()
	err := validate()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		if berr := build(); berr != nil {
			t.Fatalf("New() = %v on a valid config", berr)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate() = nil, want an error naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %q\nwant it to contain %q", err, w)
		}
	}
	if berr := build(); berr == nil || berr.Error() != err.Error() {
		t.Errorf("New() error = %v, want the Validate error", berr)
	}
}

// Fold folds events through an engine holding only p, every event applied
// to st (no contact policy, so every trigger is admitted), and returns the
// triggers. For unit tests that check one processor's reaction directly.
func Fold(t testing.TB, p journey.Processor, st journey.State, events ...*journey.Event) []journey.Trigger {
	t.Helper()
	e, err := journey.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	var out journey.Output
	for _, ev := range events {
		c := e.NewCustomer(ev.CustomerID)
		c.States[0] = st
		if err := e.Fold(c, ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out.Triggers
}
