package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// State is one customer's contact-policy state. Every list is bounded and
// kept in a canonical order, so equal states encode to equal bytes.
type State struct {
	// TimeZone is the customer's IANA zone, from the newest event (by
	// event time) that named one that loads; "" when none did.
	TimeZone string `json:"time_zone,omitempty"`
	// TimeZoneAt is the time of the event that set TimeZone.
	TimeZoneAt time.Time `json:"time_zone_at,omitzero"`
	// Consent is the recorded consent per channel, by channel.
	Consent []ChannelConsent `json:"consent,omitempty"`
	// Rules are the last admitted trigger of each rule, by rule.
	Rules []RuleContact `json:"rules,omitempty"`
	// Channels are the admitted contacts per channel, by channel.
	Channels []ChannelContact `json:"channels,omitempty"`
	// Held are the triggers waiting for the end of quiet hours, by
	// release time then trigger id.
	Held []Held `json:"held,omitempty"`
	// Log is the last suppressions, oldest first.
	Log []Suppression `json:"log,omitempty"`
}

// ChannelConsent is a channel's recorded consent and the time of the
// event that recorded it.
type ChannelConsent struct {
	Channel string    `json:"channel"`
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
}

// RuleContact is when a rule's last trigger was admitted.
type RuleContact struct {
	Rule string    `json:"rule"`
	Last time.Time `json:"last"`
}

// ChannelContact is a channel's contact history: its last admitted
// trigger, and for a capped channel the times of the most recent ones
// (at most the cap's Max, oldest first).
type ChannelContact struct {
	Channel string      `json:"channel"`
	Last    time.Time   `json:"last"`
	Recent  []time.Time `json:"recent,omitempty"`
}

// Held is a trigger held during quiet hours, and when it is released.
// The channel is the one routing resolved; Payload is the trigger's
// payload as JSON.
type Held struct {
	Until      time.Time       `json:"until"`
	ID         string          `json:"id"`
	Rule       string          `json:"rule"`
	CustomerID string          `json:"customer"`
	Channel    string          `json:"channel"`
	At         time.Time       `json:"at"`
	Reason     string          `json:"reason,omitempty"`
	Causes     []string        `json:"causes,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// Suppression is one suppressed trigger in the log: when, which, where
// and why.
type Suppression struct {
	At        time.Time `json:"at"`
	Rule      string    `json:"rule"`
	Channel   string    `json:"channel"`
	Reason    string    `json:"reason"`
	TriggerID string    `json:"trigger_id"`
}

// Bounds of what one customer's state holds beyond Config's.
const (
	// maxKeyLen bounds channel, rule and category names, trigger ids and
	// cause ids kept.
	maxKeyLen = 128
	// maxChannels bounds the channels with recorded consent (beyond it only
	// refusals are kept: see setConsent), and separately those with a
	// contact history.
	maxChannels = 32
	// maxRefusals bounds the channels with a recorded refusal, so that a
	// producer inventing channel names cannot grow a state for ever. Real
	// customers refuse a handful; a refusal is evicted by this bound only.
	maxRefusals = 256
	// maxRules bounds the rules with a cooldown history.
	maxRules = 64
	// maxHeldCauses bounds the cause ids kept with a held trigger.
	maxHeldCauses = 100
	// maxHeldPayload bounds a held trigger's payload, as JSON.
	maxHeldPayload = 4096
)

func validKey(s string) bool { return s != "" && len(s) <= maxKeyLen }

// consent returns the consent recorded for channel.
func (s *State) consent(channel string) (ChannelConsent, bool) {
	i, ok := slices.BinarySearchFunc(s.Consent, channel, func(c ChannelConsent, ch string) int {
		return strings.Compare(c.Channel, ch)
	})
	if !ok {
		return ChannelConsent{}, false
	}
	return s.Consent[i], true
}

// setConsent records consent for channel from an event at t, unless a
// newer event recorded it; on a tie a refusal wins. A refusal is never
// evicted by a bound: when the state holds maxChannels channels, a new one
// replaces the grant recorded longest ago (a new grant older than every
// grant kept is not recorded); with no grant to replace, a new grant is not
// recorded and a new refusal is added, up to maxRefusals, past which it
// replaces the refusal recorded longest ago. It reports whether the state
// changed.
func (s *State) setConsent(channel string, granted bool, t time.Time) bool {
	if !validKey(channel) {
		return false
	}
	i, ok := slices.BinarySearchFunc(s.Consent, channel, func(c ChannelConsent, ch string) int {
		return strings.Compare(c.Channel, ch)
	})
	if ok {
		c := &s.Consent[i]
		if t.Before(c.At) || t.Equal(c.At) && !(c.Granted && !granted) {
			return false
		}
		c.Granted, c.At = granted, t
		return true
	}
	if len(s.Consent) >= maxChannels {
		v := s.oldestConsent(true)
		switch {
		case v < 0 && granted:
			return false // every entry is a refusal: none gives way to a grant
		case v < 0 && len(s.Consent) < maxRefusals:
			// refusals only, fewer than maxRefusals: the map grows
		case v < 0:
			v = s.oldestConsent(false)
		}
		if v >= 0 {
			if t.Before(s.Consent[v].At) && s.Consent[v].Granted == granted {
				return false // older than everything it could replace
			}
			s.Consent = slices.Delete(s.Consent, v, v+1)
			if v < i {
				i--
			}
		}
	}
	s.Consent = slices.Insert(s.Consent, i, ChannelConsent{Channel: channel, Granted: granted, At: t})
	return true
}

// oldestConsent returns the index of the grant (granted) or refusal
// recorded longest ago, or -1 when there is none.
func (s *State) oldestConsent(granted bool) int {
	v := -1
	for j := range s.Consent {
		if s.Consent[j].Granted == granted && (v < 0 || s.Consent[j].At.Before(s.Consent[v].At)) {
			v = j
		}
	}
	return v
}

// rule returns the contact history of rule, or nil.
func (s *State) rule(rule string) *RuleContact {
	i, ok := slices.BinarySearchFunc(s.Rules, rule, func(r RuleContact, name string) int {
		return strings.Compare(r.Rule, name)
	})
	if !ok {
		return nil
	}
	return &s.Rules[i]
}

// contacted records that a trigger of rule was admitted on channel at t.
// capMax is the channel's cap (0 when uncapped): that many recent times
// are kept.
func (s *State) contacted(rule, channel string, t time.Time, capMax int) {
	i, ok := slices.BinarySearchFunc(s.Rules, rule, func(r RuleContact, name string) int {
		return strings.Compare(r.Rule, name)
	})
	switch {
	case ok:
		if t.After(s.Rules[i].Last) {
			s.Rules[i].Last = t
		}
	case validKey(rule):
		if len(s.Rules) >= maxRules {
			v := 0
			for j := range s.Rules {
				if s.Rules[j].Last.Before(s.Rules[v].Last) {
					v = j
				}
			}
			s.Rules = slices.Delete(s.Rules, v, v+1)
			if v < i {
				i--
			}
		}
		s.Rules = slices.Insert(s.Rules, i, RuleContact{Rule: rule, Last: t})
	}

	i, ok = slices.BinarySearchFunc(s.Channels, channel, func(c ChannelContact, ch string) int {
		return strings.Compare(c.Channel, ch)
	})
	if !ok {
		if !validKey(channel) {
			return
		}
		if len(s.Channels) >= maxChannels {
			v := 0
			for j := range s.Channels {
				if s.Channels[j].Last.Before(s.Channels[v].Last) {
					v = j
				}
			}
			s.Channels = slices.Delete(s.Channels, v, v+1)
			if v < i {
				i--
			}
		}
		s.Channels = slices.Insert(s.Channels, i, ChannelContact{Channel: channel, Last: t})
	}
	c := &s.Channels[i]
	if t.After(c.Last) {
		c.Last = t
	}
	if capMax <= 0 {
		c.Recent = nil
		return
	}
	pos := len(c.Recent)
	for pos > 0 && c.Recent[pos-1].After(t) {
		pos--
	}
	c.Recent = slices.Insert(c.Recent, pos, t)
	if over := len(c.Recent) - capMax; over > 0 {
		c.Recent = slices.Delete(c.Recent, 0, over)
	}
}

// channel returns the contact history of channel, or nil.
func (s *State) channel(channel string) *ChannelContact {
	i, ok := slices.BinarySearchFunc(s.Channels, channel, func(c ChannelContact, ch string) int {
		return strings.Compare(c.Channel, ch)
	})
	if !ok {
		return nil
	}
	return &s.Channels[i]
}

// held returns the index of the held trigger id, or -1.
func (s *State) held(id string) int {
	return slices.IndexFunc(s.Held, func(h Held) bool { return h.ID == id })
}

// hold inserts h in (Until, ID) order.
func (s *State) hold(h Held) {
	i, _ := slices.BinarySearchFunc(s.Held, h, compareHeld)
	s.Held = slices.Insert(s.Held, i, h)
}

func compareHeld(a, b Held) int {
	if c := a.Until.Compare(b.Until); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// log appends a suppression, keeping the last max.
func (s *State) log(e Suppression, max int) {
	s.Log = append(s.Log, e)
	if over := len(s.Log) - max; over > 0 {
		s.Log = slices.Delete(s.Log, 0, over)
	}
}
