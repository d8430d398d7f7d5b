//go:build journeyfaults

package journey

import (
	"errors"
	"strings"
)

// The chaos suite's fault injector (cmd/journey, TestChaosPoison), built
// only with `go build -tags journeyfaults`: real processors do not fail on
// a valid event, so the suite proves the fold_violation path on the real
// binary with events that ask a processor to fail. An event whose id is
// "poison:<processor>:err:..." makes that processor's Fold return
// ErrInjected; "poison:<processor>:panic:..." makes it panic with an
// InjectedPanic holding the event's id (a value the dead letter and the log
// must not show: a panic's report names only its type).
//
// The production binary is built without the tag (faults.go): the suite
// checks that it holds none of this file's text.

// ErrInjected is the error of an injected fault.
var ErrInjected = errors.New("injected fault (journeyfaults build)")

// InjectedPanic is the value of an injected panic.
type InjectedPanic struct{ EventID string }

func injectedFault(p Processor, ev *Event) error {
	rest, ok := strings.CutPrefix(ev.ID, "poison:")
	if !ok {
		return nil
	}
	name, rest, _ := strings.Cut(rest, ":")
	if name != p.Name() {
		return nil
	}
	switch kind, _, _ := strings.Cut(rest, ":"); kind {
	case "err":
		return ErrInjected
	case "panic":
		panic(InjectedPanic{EventID: ev.ID})
	}
	return nil
}
