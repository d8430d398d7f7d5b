package dormancy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// Config configures the processor. It is the "dormancy" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// After is how long without engagement makes a customer dormant.
	After time.Duration `yaml:"after"`
	// Target is the channel the trigger is sent to ("preferred" lets the
	// contact policy route it to the customer's preferred channel).
	Target string `yaml:"target"`
	// Kinds are the event kinds that can be engagement.
	Kinds []journey.Kind `yaml:"kinds"`
	// Events, when not empty, are the only event names that are
	// engagement (matched against Event.Name: the track event's name, the
	// page's or screen's name). Empty means every name not excluded.
	Events []string `yaml:"events"`
	// Exclude are event names that are never engagement.
	Exclude []string `yaml:"exclude"`
}

// DefaultExclude are the event names excluded by default: messages sent
// to the customer, delivered, received by their device or bounced are not
// something the customer did, and a spam complaint or an unsubscription is
// not engagement.
var DefaultExclude = []string{
	"Email Sent",
	"Email Delivered",
	"Email Bounced",
	"Email Marked as Spam",
	"Email Unsubscribed",
	"Unsubscribed",
	"Push Notification Sent",
	"Push Notification Delivered",
	"Push Notification Received",
	"Push Notification Bounced",
}

// Bounds of the fields.
const (
	maxAfter = 10 * 365 * 24 * time.Hour
	maxNames = 1000
)

var knownKinds = []journey.Kind{
	journey.KindTrack, journey.KindIdentify, journey.KindPage, journey.KindScreen,
	journey.KindAlias, journey.KindGroup, journey.KindCloudEvent,
}

// DefaultConfig returns the defaults: a customer with no track, page or
// screen event (other than DefaultExclude) for 30 days gets one win-back
// email trigger.
func DefaultConfig() Config {
	return Config{
		After:   30 * 24 * time.Hour,
		Target:  "email",
		Kinds:   []journey.Kind{journey.KindTrack, journey.KindPage, journey.KindScreen},
		Exclude: slices.Clone(DefaultExclude),
	}
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("dormancy.after: must be > 0, got 0s").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.After <= 0:
		bad("after", "must be > 0, got %s", c.After)
	case c.After > maxAfter:
		bad("after", "must be at most %s, got %s", maxAfter, c.After)
	}
	if c.Target == "" {
		bad("target", "must name a channel")
	}
	if len(c.Kinds) == 0 {
		bad("kinds", "must name at least one event kind")
	}
	for i, k := range c.Kinds {
		switch {
		case !slices.Contains(knownKinds, k):
			bad("kinds", "%q is not an event kind (want one of %v)", k, knownKinds)
		case slices.Index(c.Kinds, k) < i:
			bad("kinds", "%q is listed twice", k)
		}
	}
	for _, f := range []struct {
		field string
		names []string
	}{{"events", c.Events}, {"exclude", c.Exclude}} {
		if len(f.names) > maxNames {
			bad(f.field, "must list at most %d names, got %d", maxNames, len(f.names))
		}
		for i, n := range f.names {
			switch {
			case n == "":
				bad(f.field, "entry %d is empty", i)
			case slices.Index(f.names, n) < i:
				bad(f.field, "%q is listed twice", n)
			}
		}
	}
	for _, n := range c.Exclude {
		if n != "" && slices.Contains(c.Events, n) {
			bad("exclude", "%q is also in events: an event cannot be both", n)
		}
	}
	return errors.Join(errs...)
}
