package ingest

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBytes  = 1 << 20
	DefaultMaxFuture = 24 * time.Hour
)

// Config configures a Decoder. The zero value is usable.
type Config struct {
	// TopicChannels maps a topic to the channel of its events, for events
	// that name none themselves (web.events -> web).
	TopicChannels map[string]string
	// CloudEventTypes maps a CloudEvents type to the event name journey
	// knows it by ("com.shop.product.viewed" -> "Product Viewed"). A mapped
	// CloudEvent is decoded as a track event of that name.
	CloudEventTypes map[string]string
	// MaxBytes is the largest record accepted, key, value and headers
	// together; larger is a size violation. 0 means DefaultMaxBytes.
	MaxBytes int
	// MaxFuture is how far past Now an event time may be; later is a time
	// violation. 0 means DefaultMaxFuture.
	MaxFuture time.Duration
	// Now returns the wall-clock time MaxFuture is measured from. nil means
	// time.Now. Only this check reads it: event time never comes from it.
	Now func() time.Time
}

// Validate reports the first invalid field of c, by name.
func (c *Config) Validate() error {
	if c.MaxBytes < 0 {
		return fmt.Errorf("ingest: Config.MaxBytes is %d, want >= 0", c.MaxBytes)
	}
	if c.MaxFuture < 0 {
		return fmt.Errorf("ingest: Config.MaxFuture is %s, want >= 0", c.MaxFuture)
	}
	for topic, ch := range c.TopicChannels {
		if topic == "" {
			return errors.New("ingest: Config.TopicChannels has an empty topic")
		}
		if ch == "" {
			return fmt.Errorf("ingest: Config.TopicChannels[%q] is empty", topic)
		}
	}
	for typ, name := range c.CloudEventTypes {
		if typ == "" {
			return errors.New("ingest: Config.CloudEventTypes has an empty type")
		}
		if name == "" {
			return fmt.Errorf("ingest: Config.CloudEventTypes[%q] is empty", typ)
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = DefaultMaxFuture
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
