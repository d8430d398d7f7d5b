package timeline

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the processor. It is the "timeline" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Enabled runs the timeline (default false): its state is rewritten
	// with every round that touches the customer, which costs a third of
	// the throughput with every processor (bench/README.md).
	Enabled bool `yaml:"enabled"`
	// MaxEvents bounds the entries kept per customer (events and
	// decisions on triggers); the oldest are dropped first.
	MaxEvents int `yaml:"max_events"`
	// MaxAge drops the entries older than the newest one by more than
	// MaxAge.
	MaxAge time.Duration `yaml:"max_age"`
}

// Bounds of the fields.
const (
	maxMaxEvents = 10000
	maxMaxAge    = 10 * 365 * 24 * time.Hour
)

// DefaultConfig returns the defaults: the last 200 entries of at most 90
// days.
func DefaultConfig() Config {
	return Config{MaxEvents: 200, MaxAge: 90 * 24 * time.Hour}
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("timeline.max_events: must be > 0, got 0").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	if c.MaxEvents <= 0 || c.MaxEvents > maxMaxEvents {
		bad("max_events", "must be in 1..%d, got %d", maxMaxEvents, c.MaxEvents)
	}
	if c.MaxAge <= 0 || c.MaxAge > maxMaxAge {
		bad("max_age", "must be > 0 and at most %s, got %s", maxMaxAge, c.MaxAge)
	}
	return errors.Join(errs...)
}
