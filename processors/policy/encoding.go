package policy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("policy: corrupt state")

// validTime reports whether t is between year 1 and year 9999 (what RFC
// 3339 can write); the zero time is.
func validTime(t time.Time) bool { return wire.InUnixRange(t) }

// Bounds of the decoder, beyond those of Config: what it accepts is what
// a policy with the largest allowed configuration can write.
const (
	maxRecent = maxCapMax
)

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	string   TimeZone
//	time     TimeZoneAt, when TimeZone is not ""
//	uvarint  number of consent entries; each, by channel:
//	           string channel, byte granted (0 or 1), time at
//	uvarint  number of rules; each, by rule: string rule, time last
//	uvarint  number of channels; each, by channel:
//	           string channel, time last, uvarint n, n times (oldest first)
//	uvarint  number of held triggers; each, by (until, id):
//	           time until, string id, string rule, string customer,
//	           string channel, time at, string reason,
//	           uvarint n, n strings (causes), string payload (JSON or "")
//	uvarint  number of log entries; each, oldest first:
//	           time at, string rule, string channel, string reason,
//	           string trigger id
//
// where a string is a uvarint length and the bytes and a time is a varint
// of Unix seconds and a uvarint of nanoseconds. The encoding is canonical:
// equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if s.TimeZone == "" && s.TimeZoneAt.IsZero() && len(s.Consent) == 0 && len(s.Rules) == 0 &&
		len(s.Channels) == 0 && len(s.Held) == 0 && len(s.Log) == 0 {
		return b, nil
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	size := 8 + len(s.TimeZone) + 24*len(s.Consent) + 24*len(s.Rules) + 40*len(s.Log)
	for i := range s.Channels {
		size += 24 + 8*len(s.Channels[i].Recent)
	}
	for i := range s.Held {
		h := &s.Held[i]
		size += 80 + len(h.Rule) + len(h.CustomerID) + len(h.Payload)
		for _, c := range h.Causes {
			size += 1 + len(c)
		}
	}
	b = slices.Grow(b, size)
	b = wire.AppendString(b, s.TimeZone)
	if s.TimeZone != "" {
		b = wire.AppendUnixTime(b, s.TimeZoneAt)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Consent)))
	for _, c := range s.Consent {
		b = wire.AppendString(b, c.Channel)
		if c.Granted {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = wire.AppendUnixTime(b, c.At)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Rules)))
	for _, r := range s.Rules {
		b = wire.AppendString(b, r.Rule)
		b = wire.AppendUnixTime(b, r.Last)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Channels)))
	for _, c := range s.Channels {
		b = wire.AppendString(b, c.Channel)
		b = wire.AppendUnixTime(b, c.Last)
		b = binary.AppendUvarint(b, uint64(len(c.Recent)))
		for _, t := range c.Recent {
			b = wire.AppendUnixTime(b, t)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Held)))
	for i := range s.Held {
		b = s.Held[i].appendBinary(b)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Log)))
	for _, e := range s.Log {
		b = wire.AppendUnixTime(b, e.At)
		b = wire.AppendString(b, e.Rule)
		b = wire.AppendString(b, e.Channel)
		b = wire.AppendString(b, e.Reason)
		b = wire.AppendString(b, e.TriggerID)
	}
	return b, nil
}

// check reports what MarshalBinary cannot encode canonically, or
// UnmarshalBinary would refuse.
func (s *State) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("policy: cannot encode the state: "+format, args...)
	}
	switch {
	case len(s.TimeZone) > maxZoneLen:
		return bad("time zone name too long")
	case s.TimeZone == "" && !s.TimeZoneAt.IsZero():
		return bad("a time zone time without a time zone")
	case len(s.Consent) > maxRefusals, len(s.Channels) > maxChannels, len(s.Rules) > maxRules,
		len(s.Held) > maxMaxHeld, len(s.Log) > maxMaxLog:
		return bad("more entries than the bounds allow")
	}
	if s.TimeZone != "" && !validTime(s.TimeZoneAt) {
		return bad("time zone time out of range")
	}
	for i, c := range s.Consent {
		if !validKey(c.Channel) || i > 0 && c.Channel <= s.Consent[i-1].Channel || !validTime(c.At) {
			return bad("consent %d: channels must be valid, unique and sorted, times in range", i)
		}
	}
	for i, r := range s.Rules {
		if !validKey(r.Rule) || i > 0 && r.Rule <= s.Rules[i-1].Rule || !validTime(r.Last) {
			return bad("rule %d: rules must be valid, unique and sorted, times in range", i)
		}
	}
	for i, c := range s.Channels {
		if !validKey(c.Channel) || i > 0 && c.Channel <= s.Channels[i-1].Channel || !validTime(c.Last) || len(c.Recent) > maxRecent {
			return bad("channel %d: channels must be valid, unique and sorted, times in range", i)
		}
		for j, t := range c.Recent {
			if !validTime(t) || j > 0 && t.Before(c.Recent[j-1]) {
				return bad("channel %q: recent times must be in range and in order", c.Channel)
			}
		}
	}
	for i := range s.Held {
		h := &s.Held[i]
		if !validHeld(h) || i > 0 && compareHeld(s.Held[i-1], *h) >= 0 || slices.IndexFunc(s.Held[:i], func(o Held) bool { return o.ID == h.ID }) >= 0 {
			return bad("held trigger %d: invalid, duplicate or out of order", i)
		}
	}
	for i, e := range s.Log {
		if !validTime(e.At) || len(e.Rule) > maxKeyLen || len(e.Channel) > maxKeyLen || len(e.Reason) > maxKeyLen || len(e.TriggerID) > maxKeyLen {
			return bad("log entry %d: time out of range or names too long", i)
		}
	}
	return nil
}

// validHeld reports whether h is a held trigger the policy could have
// written.
func validHeld(h *Held) bool {
	if !validTime(h.Until) || !validTime(h.At) || !validKey(h.ID) || !validKey(h.Rule) || !validKey(h.Channel) ||
		len(h.Reason) > maxKeyLen || len(h.Causes) > maxHeldCauses || len(h.Payload) > maxHeldPayload {
		return false
	}
	for _, c := range h.Causes {
		if len(c) > maxKeyLen {
			return false
		}
	}
	if len(h.Payload) == 0 {
		return true
	}
	// A JSON object, compact, as json.Marshal writes it.
	return h.Payload[0] == '{' && json.Valid(h.Payload) && compact(h.Payload)
}

// compact reports whether the valid JSON b has no white space outside its
// strings.
func compact(b []byte) bool {
	in, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// appendBinary appends one held trigger.
func (h *Held) appendBinary(b []byte) []byte {
	b = wire.AppendUnixTime(b, h.Until)
	b = wire.AppendString(b, h.ID)
	b = wire.AppendString(b, h.Rule)
	b = wire.AppendString(b, h.CustomerID)
	b = wire.AppendString(b, h.Channel)
	b = wire.AppendUnixTime(b, h.At)
	b = wire.AppendString(b, h.Reason)
	b = binary.AppendUvarint(b, uint64(len(h.Causes)))
	for _, c := range h.Causes {
		b = wire.AppendString(b, c)
	}
	return wire.AppendString(b, string(h.Payload))
}

// readBinary reads what appendBinary appends into h.
func (h *Held) readBinary(r *wire.Reader) {
	h.Until = r.UnixTime()
	h.ID = r.Str()
	h.Rule = r.Str()
	h.CustomerID = r.Str()
	h.Channel = r.Str()
	h.At = r.UnixTime()
	h.Reason = r.Str()
	if m := r.CountAtMost(1, maxHeldCauses); m > 0 {
		h.Causes = make([]string, m)
		for j := range h.Causes {
			h.Causes[j] = r.Str()
		}
	}
	if p := r.Str(); p != "" {
		h.Payload = json.RawMessage(p)
	}
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data; its strings share one copy of it.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data, ErrCorrupt)
	var st State
	if st.TimeZone = r.Str(); st.TimeZone != "" {
		st.TimeZoneAt = r.UnixTime()
	}
	if n := r.CountAtMost(3, maxRefusals); n > 0 {
		st.Consent = make([]ChannelConsent, n)
		for i := range st.Consent {
			c := &st.Consent[i]
			c.Channel = r.Str()
			switch r.Byte() {
			case 0:
			case 1:
				c.Granted = true
			default:
				r.Fail("consent is not 0 or 1")
			}
			c.At = r.UnixTime()
		}
	}
	if n := r.CountAtMost(3, maxRules); n > 0 {
		st.Rules = make([]RuleContact, n)
		for i := range st.Rules {
			st.Rules[i].Rule = r.Str()
			st.Rules[i].Last = r.UnixTime()
		}
	}
	if n := r.CountAtMost(4, maxChannels); n > 0 {
		st.Channels = make([]ChannelContact, n)
		for i := range st.Channels {
			c := &st.Channels[i]
			c.Channel = r.Str()
			c.Last = r.UnixTime()
			if m := r.CountAtMost(2, maxRecent); m > 0 {
				c.Recent = make([]time.Time, m)
				for j := range c.Recent {
					c.Recent[j] = r.UnixTime()
				}
			}
		}
	}
	if n := r.CountAtMost(11, maxMaxHeld); n > 0 {
		st.Held = make([]Held, n)
		for i := range st.Held {
			st.Held[i].readBinary(&r)
		}
	}
	if n := r.CountAtMost(6, maxMaxLog); n > 0 {
		st.Log = make([]Suppression, n)
		for i := range st.Log {
			e := &st.Log[i]
			e.At = r.UnixTime()
			e.Rule = r.Str()
			e.Channel = r.Str()
			e.Reason = r.Str()
			e.TriggerID = r.Str()
		}
	}
	if err := r.Finish(); err != nil {
		return err
	}
	if st.TimeZone == "" && len(st.Consent) == 0 && len(st.Rules) == 0 && len(st.Channels) == 0 && len(st.Held) == 0 && len(st.Log) == 0 {
		return fmt.Errorf("%w: an empty state is encoded as no bytes", ErrCorrupt)
	}
	if err := st.check(); err != nil {
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.TrimPrefix(err.Error(), "policy: cannot encode the state: "))
	}
	*s = st
	return nil
}
