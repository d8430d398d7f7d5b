// Package procstate converts the journey.State a processor is handed back
// to the processor's own state type.
package procstate

import (
	"fmt"

	"github.com/journey-dev/journey/pkg/journey"
)

// As returns st as a *T, or an error wrapping errState (the processor's
// "not a <name> state" sentinel) and naming st's type when st is not a
// non-nil *T.
func As[T any, P interface {
	*T
	journey.State
}](st journey.State, errState error) (P, error) {
	s, ok := st.(P)
	if !ok || s == nil {
		return nil, fmt.Errorf("%w: %T", errState, st)
	}
	return s, nil
}
