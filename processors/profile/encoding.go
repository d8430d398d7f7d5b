package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("profile: corrupt state")

// Times are kept between year 1 and year 9999 (what RFC 3339 can write).
var (
	minUnix = time.Time{}.Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

func validTime(t time.Time) bool {
	sec := t.Unix()
	return !t.IsZero() && sec >= minUnix && sec <= maxUnix
}

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
func (s *State) MarshalBinary() ([]byte, error) {
	if s.empty() {
		return nil, nil
	}
	for _, t := range []time.Time{s.FirstSeen, s.LastSeen, s.LastChannel.At, s.TimeZone.At} {
		if !t.IsZero() && !validTime(t) {
			return nil, fmt.Errorf("profile: time %v is out of range", t)
		}
	}
	b := make([]byte, 0, 64+16*(len(s.AnonymousIDs)+len(s.Events)+len(s.Channels))+24*len(s.Consent))
	var flags byte
	if s.Identified {
		flags |= 1
	}
	b = append(b, flags)
	b = appendTime(b, s.FirstSeen)
	b = appendTime(b, s.LastSeen)
	b = appendString(b, s.LastChannel.Value)
	b = appendTime(b, s.LastChannel.At)
	b = appendString(b, s.TimeZone.Value)
	b = appendTime(b, s.TimeZone.At)
	b = binary.AppendUvarint(b, uint64(len(s.AnonymousIDs)))
	for _, id := range s.AnonymousIDs {
		b = appendString(b, id)
	}
	b = appendCounts(b, s.Events)
	b = appendCounts(b, s.Channels)
	b = binary.AppendUvarint(b, uint64(len(s.Consent)))
	for _, ch := range slices.Sorted(maps.Keys(s.Consent)) {
		c := s.Consent[ch]
		if !c.At.IsZero() && !validTime(c.At) {
			return nil, fmt.Errorf("profile: consent time %v is out of range", c.At)
		}
		b = appendString(b, ch)
		g := byte(0)
		if c.Granted {
			g = 1
		}
		b = append(b, g)
		b = appendTime(b, c.At)
	}
	return b, nil
}

func appendCounts(b []byte, m map[string]uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, m[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime appends t; the zero time is written as Unix seconds of year
// 1, which reads back as the zero time.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data; all its strings share one copy of it.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := reader{b: data, s: string(data)}
	var d State
	flags := r.byte()
	if flags&^1 != 0 {
		r.fail("unknown flags")
	}
	d.Identified = flags&1 != 0
	d.FirstSeen = r.time()
	d.LastSeen = r.time()
	d.LastChannel = Latest{Value: r.str(), At: r.time()}
	d.TimeZone = Latest{Value: r.str(), At: r.time()}
	if n := r.count(1); n > 0 {
		d.AnonymousIDs = make([]string, n)
		for i := range d.AnonymousIDs {
			d.AnonymousIDs[i] = r.str()
		}
	}
	d.Events = r.counts()
	d.Channels = r.counts()
	if n := r.count(3); n > 0 {
		d.Consent = make(map[string]Consent, n)
		prev := ""
		for i := range n {
			ch := r.str()
			if i > 0 && ch <= prev {
				r.fail("consent channels must be unique and sorted")
			}
			prev = ch
			g := r.byte()
			if g > 1 {
				r.fail("bad consent")
			}
			d.Consent[ch] = Consent{Granted: g == 1, At: r.time()}
		}
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	*s = d
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
// that the remaining bytes can hold them.
func (r *reader) count(minBytes int) int {
	n := r.uvarint()
	if n > uint64((len(r.b)-r.off)/minBytes) {
		r.fail("count larger than the data")
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
	if r.err == nil && (sec < minUnix || sec > maxUnix || nsec >= 1e9) {
		r.fail("time out of range")
	}
	if r.err != nil || sec == minUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// counts reads what appendCounts wrote; nil when there are none.
func (r *reader) counts() map[string]uint64 {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]uint64, n)
	prev := ""
	for i := range n {
		k := r.str()
		if i > 0 && k <= prev {
			r.fail("names must be unique and sorted")
		}
		prev = k
		m[k] = r.uvarint()
	}
	return m
}
