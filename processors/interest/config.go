package interest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Config configures the processor. It is the "interest" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Window is the sliding window of views: a view counts while it is less
	// than Window older than the newest event seen for the customer.
	Window time.Duration `yaml:"window"`
	// Threshold is the interest in one category that makes a trigger:
	// with no decay (HalfLife 0), the number of views within the window;
	// with decay, the decayed views (see HalfLife).
	Threshold int `yaml:"threshold"`
	// HalfLife makes old views weigh less: a category's interest is the
	// sum over its views within the window of 2^(-age/HalfLife), age being
	// the view's age at the newest event folded, rounded to one decimal.
	// A view just now counts 1, one HalfLife old 0.5. 0 disables decay:
	// every view within the window counts 1.
	HalfLife time.Duration `yaml:"half_life"`
	// Channels are the channels whose Product Viewed events count.
	// Purchases count on every channel.
	Channels []string `yaml:"channels"`
	// Target is the channel triggers are sent to.
	Target string `yaml:"target"`
	// MaxCategories bounds the categories kept per customer; beyond it the
	// least recently active one (viewed or purchased) is forgotten.
	MaxCategories int `yaml:"max_categories"`
	// MaxViews bounds the views kept per category, the oldest going first.
	// It is also the most a category's interest can reach, so it must be
	// at least Threshold.
	MaxViews int `yaml:"max_views"`
}

// Upper bounds of the size fields: they bound the state of one customer,
// which is read and written on every event.
const (
	maxMaxCategories = 1000
	maxMaxViews      = 1000
)

// DefaultConfig returns the defaults: an interest of 3 in one category
// (three views within a few hours; more when they are spread out), from
// views on the web or in the app within a week with a 72-hour half-life,
// makes an email trigger.
func DefaultConfig() Config {
	return Config{
		Window:        168 * time.Hour,
		Threshold:     3,
		HalfLife:      72 * time.Hour,
		Channels:      []string{"web", "app"},
		Target:        "email",
		MaxCategories: 50,
		MaxViews:      20,
	}
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("interest.threshold: must be >= 1, got 0").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	if c.Window <= 0 {
		bad("window", "must be > 0, got %s", c.Window)
	}
	if c.Threshold < 1 {
		bad("threshold", "must be >= 1, got %d", c.Threshold)
	}
	if c.HalfLife < 0 {
		bad("half_life", "must be >= 0 (0 disables decay), got %s", c.HalfLife)
	}
	if len(c.Channels) == 0 {
		bad("channels", "must name at least one channel")
	}
	for i, ch := range c.Channels {
		switch {
		case ch == "":
			bad("channels", "entry %d is empty", i)
		case slices.Index(c.Channels, ch) < i:
			bad("channels", "%q is listed twice", ch)
		}
	}
	if c.Target == "" {
		bad("target", "must name a channel")
	}
	if c.MaxCategories < 1 || c.MaxCategories > maxMaxCategories {
		bad("max_categories", "must be between 1 and %d, got %d", maxMaxCategories, c.MaxCategories)
	}
	switch {
	case c.MaxViews < 1 || c.MaxViews > maxMaxViews:
		bad("max_views", "must be between 1 and %d, got %d", maxMaxViews, c.MaxViews)
	case c.Threshold >= 1 && c.MaxViews < c.Threshold:
		bad("max_views", "must be >= threshold (%d), got %d: the interest could never reach the threshold", c.Threshold, c.MaxViews)
	}
	return errors.Join(errs...)
}

// interest returns the interest in c at latest (see HalfLife): the number
// of views without decay, else their decayed sum rounded to one decimal.
func (c *Config) interest(cat *Category, latest time.Time) float64 {
	if c.HalfLife == 0 {
		return float64(len(cat.Views))
	}
	sum := 0.0
	for i := range cat.Views {
		sum += math.Exp2(-float64(latest.Sub(cat.Views[i].At)) / float64(c.HalfLife))
	}
	return math.Round(sum*10) / 10
}

// atLeast reports whether the interest in cat at latest is at least min,
// a multiple of 0.5. It first tries bounds that need no sum: every view
// weighs at most 1, and at least what the oldest weighs; rounding to one
// decimal keeps a sum at or above min at or above min.
func (c *Config) atLeast(cat *Category, latest time.Time, min float64) bool {
	n := float64(len(cat.Views))
	switch {
	case n < min:
		return false
	case c.HalfLife == 0:
		return true
	case n*math.Exp2(-float64(latest.Sub(cat.Views[0].At))/float64(c.HalfLife)) >= min:
		return true
	}
	return c.interest(cat, latest) >= min
}

// reached reports whether the interest in cat at latest reaches the
// threshold.
func (c *Config) reached(cat *Category, latest time.Time) bool {
	return c.atLeast(cat, latest, float64(c.Threshold))
}

// holds reports whether a crossing that fired still holds at latest, so
// that the category cannot fire again: without decay while the views
// reach the threshold, with decay while the interest is at least half the
// threshold (without a new view, a half-life after the crossing).
func (c *Config) holds(cat *Category, latest time.Time) bool {
	if c.HalfLife == 0 {
		return len(cat.Views) >= c.Threshold
	}
	return c.atLeast(cat, latest, float64(c.Threshold)/2)
}
