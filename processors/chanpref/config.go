package chanpref

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// Config configures the processor. It is the "chanpref" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Responses maps the track events that show the customer responding to
	// the channel they respond on ("Push Notification Tapped": push). In
	// YAML the entries are merged over the defaults: list only what
	// changes, and map an event to "" to stop counting it.
	Responses map[string]string `yaml:"responses"`
	// HalfLife is the time in which a response's weight halves.
	HalfLife time.Duration `yaml:"half_life"`
	// MinScore is the decayed score a channel (or an hour) needs to count
	// as evidence: 1 is one response just now, 0.5 one response HalfLife
	// ago. Below it the preferred channel (or best hour) is unknown.
	MinScore float64 `yaml:"min_score"`
}

// Bounds of the fields: they bound the work and the state of one customer.
const (
	maxResponses  = 100
	maxChannels   = 16
	maxChannelLen = 64
	maxMinScore   = 1000
)

// DefaultResponses returns the default responses: email opened or
// clicked, push notification tapped, call answered.
func DefaultResponses() map[string]string {
	return map[string]string{
		"Email Opened":             "email",
		"Email Link Clicked":       "email",
		"Push Notification Tapped": "push",
		"Call Answered":            "call_centre",
	}
}

// DefaultConfig returns the defaults: DefaultResponses, a 30-day half-life
// and a minimum score of 0.25 (one response within two half-lives).
func DefaultConfig() Config {
	return Config{
		Responses: DefaultResponses(),
		HalfLife:  30 * 24 * time.Hour,
		MinScore:  0.25,
	}
}

func (c Config) clone() Config {
	c.Responses = maps.Clone(c.Responses)
	return c
}

// channels returns the distinct channels of c.Responses, sorted.
func (c Config) channels() []string {
	var chs []string
	for _, ch := range c.Responses {
		if ch != "" && !slices.Contains(chs, ch) {
			chs = append(chs, ch)
		}
	}
	slices.Sort(chs)
	return chs
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("chanpref.half_life: must be > 0, got 0s").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	if len(c.Responses) > maxResponses {
		bad("responses", "at most %d events, got %d", maxResponses, len(c.Responses))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Responses)) {
		ch := c.Responses[name]
		switch {
		case name == "" || len(name) > maxKeyLen:
			bad("responses", "event names must be 1 to %d bytes, got %d", maxKeyLen, len(name))
		case len(ch) > maxChannelLen:
			bad(fmt.Sprintf("responses[%q]", name), "channel must be at most %d bytes", maxChannelLen)
		case ch == journey.PreferredChannel:
			bad(fmt.Sprintf("responses[%q]", name), "%q is not a channel: it routes to the channel this processor learns", ch)
		}
	}
	switch n := len(c.channels()); {
	case n == 0:
		bad("responses", "must map at least one event to a channel")
	case n > maxChannels:
		bad("responses", "at most %d distinct channels, got %d", maxChannels, n)
	}
	if c.HalfLife <= 0 {
		bad("half_life", "must be > 0, got %s", c.HalfLife)
	}
	if math.IsNaN(c.MinScore) || c.MinScore <= 0 || c.MinScore > maxMinScore {
		bad("min_score", "must be > 0 and <= %d, got %v", maxMinScore, c.MinScore)
	}
	return errors.Join(errs...)
}
