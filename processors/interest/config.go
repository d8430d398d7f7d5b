package interest

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config configures the processor. It is the "interest" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Window is the sliding window of views: a view counts while it is less
	// than Window older than the newest event seen for the customer.
	Window time.Duration `yaml:"window"`
	// Threshold is how many views of one category within the window make
	// a trigger.
	Threshold int `yaml:"threshold"`
	// Channels are the channels whose Product Viewed events count.
	// Purchases count on every channel.
	Channels []string `yaml:"channels"`
	// Target is the channel triggers are sent to.
	Target string `yaml:"target"`
	// MaxCategories bounds the categories kept per customer; beyond it the
	// least recently active one (viewed or purchased) is forgotten.
	MaxCategories int `yaml:"max_categories"`
	// MaxViews bounds the views kept per category, the oldest going first.
	// It is also the most a category's view count can reach, so it must be
	// at least Threshold.
	MaxViews int `yaml:"max_views"`
}

// Upper bounds of the size fields: they bound the state of one customer,
// which is read and written on every event.
const (
	maxMaxCategories = 1000
	maxMaxViews      = 1000
)

// DefaultConfig returns the defaults: three views of one category on the
// web or in the app within a week make an email trigger.
func DefaultConfig() Config {
	return Config{
		Window:        168 * time.Hour,
		Threshold:     3,
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
		bad("max_views", "must be >= threshold (%d), got %d: the view count could never reach the threshold", c.Threshold, c.MaxViews)
	}
	return errors.Join(errs...)
}
