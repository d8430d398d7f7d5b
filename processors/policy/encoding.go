package policy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("policy: corrupt state")

// Times are kept between year 1 and year 9999 (what RFC 3339 can write).
var (
	minUnix = time.Time{}.Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

func validTime(t time.Time) bool {
	sec := t.Unix()
	return sec >= minUnix && sec <= maxUnix
}

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
func (s *State) MarshalBinary() ([]byte, error) {
	if s.TimeZone == "" && s.TimeZoneAt.IsZero() && len(s.Consent) == 0 && len(s.Rules) == 0 &&
		len(s.Channels) == 0 && len(s.Held) == 0 && len(s.Log) == 0 {
		return nil, nil
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
	w := writer{b: make([]byte, 0, size)}
	w.str(s.TimeZone)
	if s.TimeZone != "" {
		w.time(s.TimeZoneAt)
	}
	w.uvarint(uint64(len(s.Consent)))
	for _, c := range s.Consent {
		w.str(c.Channel)
		if c.Granted {
			w.b = append(w.b, 1)
		} else {
			w.b = append(w.b, 0)
		}
		w.time(c.At)
	}
	w.uvarint(uint64(len(s.Rules)))
	for _, r := range s.Rules {
		w.str(r.Rule)
		w.time(r.Last)
	}
	w.uvarint(uint64(len(s.Channels)))
	for _, c := range s.Channels {
		w.str(c.Channel)
		w.time(c.Last)
		w.uvarint(uint64(len(c.Recent)))
		for _, t := range c.Recent {
			w.time(t)
		}
	}
	w.uvarint(uint64(len(s.Held)))
	for i := range s.Held {
		h := &s.Held[i]
		w.time(h.Until)
		w.str(h.ID)
		w.str(h.Rule)
		w.str(h.CustomerID)
		w.str(h.Channel)
		w.time(h.At)
		w.str(h.Reason)
		w.uvarint(uint64(len(h.Causes)))
		for _, c := range h.Causes {
			w.str(c)
		}
		w.str(string(h.Payload))
	}
	w.uvarint(uint64(len(s.Log)))
	for _, e := range s.Log {
		w.time(e.At)
		w.str(e.Rule)
		w.str(e.Channel)
		w.str(e.Reason)
		w.str(e.TriggerID)
	}
	return w.b, nil
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
	case len(s.Consent) > maxChannels, len(s.Channels) > maxChannels, len(s.Rules) > maxRules,
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

type writer struct{ b []byte }

func (w *writer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

func (w *writer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) time(t time.Time) {
	w.b = binary.AppendVarint(w.b, t.Unix())
	w.uvarint(uint64(t.Nanosecond()))
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data; its strings share one copy of it.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := reader{b: data, s: string(data)}
	var st State
	if st.TimeZone = r.str(); st.TimeZone != "" {
		st.TimeZoneAt = r.time()
	}
	if n := r.count(3, maxChannels); n > 0 {
		st.Consent = make([]ChannelConsent, n)
		for i := range st.Consent {
			c := &st.Consent[i]
			c.Channel = r.str()
			switch r.byte() {
			case 0:
			case 1:
				c.Granted = true
			default:
				r.fail("consent is not 0 or 1")
			}
			c.At = r.time()
		}
	}
	if n := r.count(3, maxRules); n > 0 {
		st.Rules = make([]RuleContact, n)
		for i := range st.Rules {
			st.Rules[i].Rule = r.str()
			st.Rules[i].Last = r.time()
		}
	}
	if n := r.count(4, maxChannels); n > 0 {
		st.Channels = make([]ChannelContact, n)
		for i := range st.Channels {
			c := &st.Channels[i]
			c.Channel = r.str()
			c.Last = r.time()
			if m := r.count(2, maxRecent); m > 0 {
				c.Recent = make([]time.Time, m)
				for j := range c.Recent {
					c.Recent[j] = r.time()
				}
			}
		}
	}
	if n := r.count(11, maxMaxHeld); n > 0 {
		st.Held = make([]Held, n)
		for i := range st.Held {
			h := &st.Held[i]
			h.Until = r.time()
			h.ID = r.str()
			h.Rule = r.str()
			h.CustomerID = r.str()
			h.Channel = r.str()
			h.At = r.time()
			h.Reason = r.str()
			if m := r.count(1, maxHeldCauses); m > 0 {
				h.Causes = make([]string, m)
				for j := range h.Causes {
					h.Causes[j] = r.str()
				}
			}
			if p := r.str(); p != "" {
				h.Payload = json.RawMessage(p)
			}
		}
	}
	if n := r.count(6, maxMaxLog); n > 0 {
		st.Log = make([]Suppression, n)
		for i := range st.Log {
			e := &st.Log[i]
			e.At = r.time()
			e.Rule = r.str()
			e.Channel = r.str()
			e.Reason = r.str()
			e.TriggerID = r.str()
		}
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
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

// reader decodes what MarshalBinary appends. After the first error every
// read returns a zero value.
type reader struct {
	b   []byte
	s   string // b as a string: decoded strings are slices of it
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrCorrupt, what, r.off)
	}
	r.off = len(r.b)
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

// count reads a number of items taking at least minBytes each, checking
// that it is at most limit and that the remaining bytes can hold them.
func (r *reader) count(minBytes, limit int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(limit) || n > uint64((len(r.b)-r.off)/minBytes) {
		r.fail("count larger than the bounds or the data")
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.off) {
		r.fail("string longer than the data")
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if sec < minUnix || sec > maxUnix || nsec >= 1e9 {
		r.fail("time out of range")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
