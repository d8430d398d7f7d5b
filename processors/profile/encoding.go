package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("profile: corrupt state")

// validTime reports whether t is set and between year 1 and year 9999
// (what RFC 3339 can write).
func validTime(t time.Time) bool { return !t.IsZero() && wire.InUnixRange(t) }

func (s *State) empty() bool {
	return s.FirstSeen.IsZero() && s.LastSeen.IsZero() && s.LastChannel == (Latest{}) && s.TimeZone == (Latest{}) &&
		!s.Identified && len(s.AnonymousIDs) == 0 && len(s.Events) == 0 && len(s.Channels) == 0 && len(s.Consent) == 0
}

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	byte     flags: 1 identified
//	time     FirstSeen
//	time     LastSeen
//	string   LastChannel.Value, time LastChannel.At
//	string   TimeZone.Value, time TimeZone.At
//	uvarint  number of anonymous ids, then each as a string
//	uvarint  number of event names, then by name: string name, uvarint count
//	uvarint  number of channels, then by name: string channel, uvarint count
//	uvarint  number of consents, then by channel: string channel, byte granted, time
//
// where a time is a varint of Unix seconds and a uvarint of nanoseconds,
// and a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if s.empty() {
		return b, nil
	}
	for _, t := range []time.Time{s.FirstSeen, s.LastSeen, s.LastChannel.At, s.TimeZone.At} {
		if !t.IsZero() && !validTime(t) {
			return nil, fmt.Errorf("profile: time %v is out of range", t)
		}
	}
	b = slices.Grow(b, 64+16*(len(s.AnonymousIDs)+len(s.Events)+len(s.Channels))+24*len(s.Consent))
	var flags byte
	if s.Identified {
		flags |= 1
	}
	b = append(b, flags)
	b = wire.AppendUnixTime(b, s.FirstSeen)
	b = wire.AppendUnixTime(b, s.LastSeen)
	b = wire.AppendString(b, s.LastChannel.Value)
	b = wire.AppendUnixTime(b, s.LastChannel.At)
	b = wire.AppendString(b, s.TimeZone.Value)
	b = wire.AppendUnixTime(b, s.TimeZone.At)
	b = binary.AppendUvarint(b, uint64(len(s.AnonymousIDs)))
	for _, id := range s.AnonymousIDs {
		b = wire.AppendString(b, id)
	}
	b = appendCounts(b, s.Events)
	b = appendCounts(b, s.Channels)
	b = binary.AppendUvarint(b, uint64(len(s.Consent)))
	for _, ch := range slices.Sorted(maps.Keys(s.Consent)) {
		c := s.Consent[ch]
		if !c.At.IsZero() && !validTime(c.At) {
			return nil, fmt.Errorf("profile: consent time %v is out of range", c.At)
		}
		b = wire.AppendString(b, ch)
		g := byte(0)
		if c.Granted {
			g = 1
		}
		b = append(b, g)
		b = wire.AppendUnixTime(b, c.At)
	}
	return b, nil
}

func appendCounts(b []byte, m map[string]uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = wire.AppendString(b, k)
		b = binary.AppendUvarint(b, m[k])
	}
	return b
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data; all its strings share one copy of it.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data, ErrCorrupt)
	var d State
	flags := r.Byte()
	if flags&^1 != 0 {
		r.Fail("unknown flags")
	}
	d.Identified = flags&1 != 0
	d.FirstSeen = r.UnixTime()
	d.LastSeen = r.UnixTime()
	d.LastChannel = Latest{Value: r.Str(), At: r.UnixTime()}
	d.TimeZone = Latest{Value: r.Str(), At: r.UnixTime()}
	if n := r.Count(1); n > 0 {
		d.AnonymousIDs = make([]string, n)
		for i := range d.AnonymousIDs {
			d.AnonymousIDs[i] = r.Str()
		}
	}
	d.Events = readCounts(&r)
	d.Channels = readCounts(&r)
	if n := r.Count(3); n > 0 {
		d.Consent = make(map[string]Consent, n)
		prev := ""
		for i := range n {
			ch := r.Str()
			if i > 0 && ch <= prev {
				r.Fail("consent channels must be unique and sorted")
			}
			prev = ch
			g := r.Byte()
			if g > 1 {
				r.Fail("bad consent")
			}
			d.Consent[ch] = Consent{Granted: g == 1, At: r.UnixTime()}
		}
	}
	if err := r.Finish(); err != nil {
		return err
	}
	*s = d
	return nil
}

// readCounts reads what appendCounts wrote; nil when there are none.
func readCounts(r *wire.Reader) map[string]uint64 {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]uint64, n)
	prev := ""
	for i := range n {
		k := r.Str()
		if i > 0 && k <= prev {
			r.Fail("names must be unique and sorted")
		}
		prev = k
		m[k] = r.Uvarint()
	}
	return m
}
