package policy_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/policy"

	// Defines -update, so `go test ./processors/... -update` runs here too.
	_ "github.com/journey-dev/journey/processors/processortest"
)

func mustNew(tb testing.TB, cfg policy.Config) *policy.Processor {
	tb.Helper()
	p, err := policy.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// emitter is a toy processor for the golden files: a track event "Emit"
// emits one trigger, rule and channel from its properties, id from the
// event, with the properties "n" (a number) and "sku" in its payload when
// present.
type emitter struct{}

// stateless is the state of the toy processors that keep none.
type stateless struct{}

func (*stateless) MarshalBinary() ([]byte, error) { return nil, nil }
func (*stateless) UnmarshalBinary([]byte) error   { return nil }

func (emitter) Name() string            { return "emit" }
func (emitter) StateVersion() uint32    { return 1 }
func (emitter) NewState() journey.State { return new(stateless) }
func (emitter) Fold(_ journey.State, ev *journey.Event, out *journey.Output) (bool, error) {
	if ev.Kind != journey.KindTrack || ev.Name != "Emit" {
		return false, nil
	}
	rule := ev.Str("rule")
	payload := map[string]any{}
	if n, ok := ev.Num("n"); ok {
		payload["n"] = n
	}
	if sku := ev.Str("sku"); sku != "" {
		payload["sku"] = sku
	}
	out.Emit(journey.Trigger{
		ID:         journey.TriggerID(rule, ev.CustomerID, ev.ID),
		Rule:       rule,
		CustomerID: ev.CustomerID,
		Channel:    ev.Str("channel"),
		At:         ev.Time,
		Reason:     "test",
		Causes:     []string{ev.ID},
		Payload:    payload,
	})
	return false, nil
}

// preference is a toy journey.ChannelPreferrer: a track event "Preference
// Learned" sets the customer's preferred channel to its "channel"
// property, from its time on.
type preference struct{}

type preferenceState struct {
	Channel string    `json:"channel,omitempty"`
	Since   time.Time `json:"since,omitzero"`
}

func (s *preferenceState) MarshalBinary() ([]byte, error) {
	if *s == (preferenceState{}) {
		return nil, nil
	}
	return json.Marshal(s)
}

func (s *preferenceState) UnmarshalBinary(b []byte) error {
	*s = preferenceState{}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, s)
}

func (preference) Name() string            { return "preference" }
func (preference) StateVersion() uint32    { return 1 }
func (preference) NewState() journey.State { return new(preferenceState) }
func (preference) Fold(st journey.State, ev *journey.Event, _ *journey.Output) (bool, error) {
	s := st.(*preferenceState)
	if ev.Kind != journey.KindTrack || ev.Name != "Preference Learned" {
		return false, nil
	}
	s.Channel, s.Since = ev.Str("channel"), ev.Time
	return true, nil
}

func (preference) PreferredChannel(st journey.State, at time.Time) string {
	s := st.(*preferenceState)
	if at.Before(s.Since) {
		return ""
	}
	return s.Channel
}

var _ journey.ChannelPreferrer = preference{}
