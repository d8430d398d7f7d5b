package cart

import (
	"errors"
	"fmt"
	"time"
)

// Config configures the processor. It is the "cart" section of the YAML
// configuration; DefaultConfig gives every field a value.
type Config struct {
	// Timeout is how long after its last update a cart is abandoned.
	Timeout time.Duration `yaml:"timeout"`
	// Target is the channel the trigger is sent to ("preferred" lets the
	// contact policy route it to the customer's preferred channel).
	Target string `yaml:"target"`
	// MaxCarts bounds the open carts kept per customer; opening one more
	// evicts the least recently updated, cancelling its timer. It also
	// bounds the recently closed carts remembered.
	MaxCarts int `yaml:"max_carts"`
	// MaxItems bounds the distinct products kept per cart; adding one more
	// evicts the least recently added.
	MaxItems int `yaml:"max_items"`
}

// Bounds of the fields: the size fields bound the state of one customer,
// which is read and written on every event.
const (
	maxTimeout  = 365 * 24 * time.Hour
	maxMaxCarts = 100
	maxMaxItems = 1000
)

// DefaultConfig returns the defaults: a cart not updated for an hour is
// abandoned, and the trigger goes to email.
func DefaultConfig() Config {
	return Config{
		Timeout:  time.Hour,
		Target:   "email",
		MaxCarts: 5,
		MaxItems: 50,
	}
}

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("cart.timeout: must be > 0, got 0s").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Timeout <= 0:
		bad("timeout", "must be > 0, got %s", c.Timeout)
	case c.Timeout > maxTimeout:
		bad("timeout", "must be at most %s, got %s", maxTimeout, c.Timeout)
	}
	if c.Target == "" {
		bad("target", "must name a channel")
	}
	if c.MaxCarts < 1 || c.MaxCarts > maxMaxCarts {
		bad("max_carts", "must be between 1 and %d, got %d", maxMaxCarts, c.MaxCarts)
	}
	if c.MaxItems < 1 || c.MaxItems > maxMaxItems {
		bad("max_items", "must be between 1 and %d, got %d", maxMaxItems, c.MaxItems)
	}
	return errors.Join(errs...)
}
