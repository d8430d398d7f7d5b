package procstate

import (
	"errors"
	"testing"

	"github.com/journey-dev/journey/pkg/journey"
)

type state struct{ journey.State }

type other struct{ journey.State }

var errState = errors.New("test: not a test state")

func TestAs(t *testing.T) {
	want := &state{}
	if got, err := As[state](want, errState); got != want || err != nil {
		t.Errorf("As(*state) = %p, %v; want %p, nil", got, err, want)
	}
	for _, st := range []journey.State{nil, (*state)(nil), &other{}} {
		got, err := As[state](st, errState)
		if got != nil || !errors.Is(err, errState) {
			t.Errorf("As(%T) = %v, %v; want nil and an error wrapping errState", st, got, err)
		}
	}
	if _, err := As[state](&other{}, errState); err.Error() != "test: not a test state: *procstate.other" {
		t.Errorf("error text %q", err)
	}
}
