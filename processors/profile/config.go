package profile

import (
	"errors"
	"fmt"
)

// Config configures the processor: the bounds of its state, the "profile"
// section of the YAML configuration. DefaultConfig gives every field a value.
type Config struct {
	// MaxEventNames bounds the distinct event names counted; events of
	// further names are counted under "(other)".
	MaxEventNames int `yaml:"max_event_names"`
	// MaxChannels bounds the distinct channels counted, and separately the
	// channels whose consent is kept; further channels are counted under
	// "(other)", and their consent is not kept.
	MaxChannels int `yaml:"max_channels"`
	// MaxAnonymousIDs bounds the anonymous ids kept, the least recently
	// seen going first.
	MaxAnonymousIDs int `yaml:"max_anonymous_ids"`
}

// Upper bounds of the fields: they bound the state of one customer, which
// is read and written on every event.
const (
	maxMaxEventNames   = 1000
	maxMaxChannels     = 100
	maxMaxAnonymousIDs = 100
)

// DefaultConfig returns the defaults: 100 event names, 20 channels and
// the last 5 anonymous ids.
func DefaultConfig() Config {
	return Config{MaxEventNames: 100, MaxChannels: 20, MaxAnonymousIDs: 5}
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("profile.max_channels: must be between 1 and 100, got 0").
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"max_event_names", c.MaxEventNames, maxMaxEventNames},
		{"max_channels", c.MaxChannels, maxMaxChannels},
		{"max_anonymous_ids", c.MaxAnonymousIDs, maxMaxAnonymousIDs},
	} {
		if f.v < 1 || f.v > f.limit {
			errs = append(errs, fmt.Errorf("%s.%s: must be between 1 and %d, got %d", Name, f.name, f.limit, f.v))
		}
	}
	return errors.Join(errs...)
}
