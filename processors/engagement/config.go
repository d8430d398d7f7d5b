package engagement

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Config configures the processor. It is the "engagement" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Weights maps an event to the points it adds to the score: a track
	// event by its name ("Order Completed"), a page, screen or other call by
	// its kind ("page", "screen"). Events not listed, or weighing 0, are
	// not engagement. In YAML the entries are merged over the defaults:
	// list only what changes, and give an event 0 to stop counting it.
	Weights map[string]float64 `yaml:"weights"`
	// HalfLife is the time in which the score halves with no engagement.
	HalfLife time.Duration `yaml:"half_life"`
	// Tiers are the tier names, lowest first.
	Tiers []string `yaml:"tiers"`
	// Boundaries are the scores at which each tier after the first starts:
	// Boundaries[i] is the lowest score of Tiers[i+1]. Strictly increasing.
	Boundaries []float64 `yaml:"boundaries"`
	// Hysteresis is the margin, as a fraction of a boundary, by which the
	// score must fall below a boundary to leave the tier above it: a
	// customer enters Tiers[i+1] at Boundaries[i] and leaves it below
	// Boundaries[i] * (1 - Hysteresis). 0 disables it.
	Hysteresis float64 `yaml:"hysteresis"`
	// Target is the channel tier-change triggers are sent to.
	Target string `yaml:"target"`
}

// Bounds of the fields: they bound the work and the state of one customer.
const (
	maxWeights  = 200
	maxWeight   = 1000
	maxTiers    = 16
	maxNameLen  = 64
	maxBoundary = 1e6
)

// DefaultWeights returns the default weights: a view < a like < a share <
// a comment or a review < a purchase.
func DefaultWeights() map[string]float64 {
	return map[string]float64{
		"page":               0.5,
		"screen":             0.5,
		"Product Viewed":     1,
		"Product Added":      2,
		"Product Liked":      2,
		"Email Link Clicked": 2,
		"Product Shared":     3,
		"Comment Posted":     4,
		"Product Reviewed":   4,
		"Order Completed":    10,

		// A wishlist add is a strong signal, a cart shared a share.
		"Product Added to Wishlist":      2,
		"Wishlist Product Added to Cart": 2,
		"Cart Shared":                    3,
	}
}

// DefaultConfig returns the defaults: DefaultWeights, a 14-day half-life,
// at_risk below 5 <= active below 30 <= advocate, a 10% hysteresis, and
// triggers to the email channel.
func DefaultConfig() Config {
	return Config{
		Weights:    DefaultWeights(),
		HalfLife:   14 * 24 * time.Hour,
		Tiers:      []string{"at_risk", "active", "advocate"},
		Boundaries: []float64{5, 30},
		Hysteresis: 0.1,
		Target:     "email",
	}
}

func (c Config) clone() Config {
	c.Weights = maps.Clone(c.Weights)
	c.Tiers = slices.Clone(c.Tiers)
	c.Boundaries = slices.Clone(c.Boundaries)
	return c
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("engagement.half_life: must be > 0, got 0s").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	positive := 0
	switch {
	case len(c.Weights) == 0:
		bad("weights", "must weigh at least one event")
	case len(c.Weights) > maxWeights:
		bad("weights", "at most %d events, got %d", maxWeights, len(c.Weights))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Weights)) {
		w := c.Weights[k]
		switch {
		case k == "" || len(k) > maxKeyLen:
			bad("weights", "event names must be 1 to %d bytes, got %d", maxKeyLen, len(k))
		case !finite(w) || w < 0 || w > maxWeight:
			bad(fmt.Sprintf("weights[%q]", k), "must be between 0 and %d, got %v", maxWeight, w)
		case w > 0:
			positive++
		}
	}
	if len(c.Weights) > 0 && positive == 0 {
		bad("weights", "every weight is 0: nothing would count")
	}
	if c.HalfLife <= 0 {
		bad("half_life", "must be > 0, got %s", c.HalfLife)
	}
	switch {
	case len(c.Tiers) < 2 || len(c.Tiers) > maxTiers:
		bad("tiers", "must name between 2 and %d tiers, got %d", maxTiers, len(c.Tiers))
	}
	for i, name := range c.Tiers {
		switch {
		case name == "" || len(name) > maxNameLen:
			bad("tiers", "entry %d must be 1 to %d bytes", i, maxNameLen)
		case slices.Index(c.Tiers, name) < i:
			bad("tiers", "%q is listed twice", name)
		}
	}
	if len(c.Tiers) >= 2 && len(c.Boundaries) != len(c.Tiers)-1 {
		bad("boundaries", "must hold one score per tier after the first (%d), got %d", len(c.Tiers)-1, len(c.Boundaries))
	}
	for i, b := range c.Boundaries {
		switch {
		case !finite(b) || b <= 0 || b > maxBoundary:
			bad("boundaries", "entry %d must be > 0 and <= %g, got %v", i, float64(maxBoundary), b)
		case i > 0 && b <= c.Boundaries[i-1]:
			bad("boundaries", "must be strictly increasing, got %v after %v", b, c.Boundaries[i-1])
		}
	}
	if !finite(c.Hysteresis) || c.Hysteresis < 0 || c.Hysteresis >= 1 {
		bad("hysteresis", "must be >= 0 and < 1 (a fraction of the boundary), got %v", c.Hysteresis)
	}
	switch {
	case c.Target == "":
		bad("target", "must name a channel")
	case len(c.Target) > maxNameLen:
		bad("target", "must be at most %d bytes", maxNameLen)
	}
	return errors.Join(errs...)
}
