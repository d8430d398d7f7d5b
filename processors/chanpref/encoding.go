package chanpref

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("chanpref: corrupt state")

// validTime reports whether t is between 1970 and 2200: every time in the
// state is then a whole number of nanoseconds since 1970 that fits an
// int64, and so is every difference between two of them.
func validTime(t time.Time) bool { return wire.InNanoRange(t) }

// Flags of the encoding.
const (
	flagAt    = 1 // responses: At, channels, hours, seen
	flagZone  = 2 // TimeZone and ZoneAt
	flagFloor = 4 // Floor
)

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	byte     flags: 1 responses, 2 time zone, 4 floor
//	with 2:
//	  string   TimeZone
//	  uvarint  ZoneAt, nanoseconds since 1970
//	with 1:
//	  uvarint  At, nanoseconds since 1970
//	  uvarint  At - Floor in nanoseconds, with 4
//	  uvarint  number of channels
//	  per channel, by name: string name, uvarint score, uvarint At - Last
//	  uvarint  bitmap of the hours with a score, bit h for hour h
//	  per hour in the bitmap, in order: uvarint score
//	  uvarint  number of Seen
//	  per Seen, by time then hash: 8 bytes id hash (little-endian), uvarint At - Seen.At
//
// where a string is a uvarint length and the bytes and a score is in
// millionths. The encoding is canonical: equal states encode to equal
// bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	var flags byte
	if !s.At.IsZero() {
		flags |= flagAt
	}
	if s.TimeZone != "" || !s.ZoneAt.IsZero() {
		flags |= flagZone
	}
	if !s.Floor.IsZero() {
		flags |= flagFloor
	}
	if flags&flagAt == 0 && (flags&flagFloor != 0 || len(s.Channels) > 0 || len(s.Seen) > 0 || s.Hours != [24]Points{}) {
		return nil, errors.New("chanpref: scores without a response time")
	}
	if flags == 0 {
		return b, nil
	}
	b = slices.Grow(b, 48+len(s.TimeZone)+20*len(s.Channels)+4*24+14*len(s.Seen))
	b = append(b, flags)
	if flags&flagZone != 0 {
		if s.TimeZone == "" || len(s.TimeZone) > maxZoneLen || !validTime(s.ZoneAt) {
			return nil, fmt.Errorf("chanpref: time zone %q at %v is out of range", s.TimeZone, s.ZoneAt)
		}
		b = wire.AppendString(b, s.TimeZone)
		b = wire.AppendNanoTime(b, s.ZoneAt)
	}
	if flags&flagAt == 0 {
		return b, nil
	}
	if !validTime(s.At) {
		return nil, fmt.Errorf("chanpref: At %v is out of range", s.At)
	}
	b = wire.AppendNanoTime(b, s.At)
	var err error
	if flags&flagFloor != 0 {
		if b, err = s.appendAge(b, s.Floor); err != nil {
			return nil, fmt.Errorf("chanpref: floor: %w", err)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Channels)))
	for i := range s.Channels {
		c := &s.Channels[i]
		if c.Name == "" || len(c.Name) > maxChannelLen || i > 0 && c.Name <= s.Channels[i-1].Name {
			return nil, fmt.Errorf("chanpref: channel %d: names must be 1 to %d bytes, unique and sorted", i, maxChannelLen)
		}
		if c.Score == 0 || c.Score > maxPoints {
			return nil, fmt.Errorf("chanpref: channel %q: score %d out of range", c.Name, c.Score)
		}
		b = wire.AppendString(b, c.Name)
		b = binary.AppendUvarint(b, uint64(c.Score))
		if b, err = s.appendAge(b, c.Last); err != nil {
			return nil, fmt.Errorf("chanpref: channel %q: %w", c.Name, err)
		}
	}
	var bitmap uint64
	for h, v := range s.Hours {
		if v > maxPoints {
			return nil, fmt.Errorf("chanpref: hour %d: score %d out of range", h, v)
		}
		if v != 0 {
			bitmap |= 1 << h
		}
	}
	b = binary.AppendUvarint(b, bitmap)
	for _, v := range s.Hours {
		if v != 0 {
			b = binary.AppendUvarint(b, uint64(v))
		}
	}
	if b, err = s.AppendEvents(b, s.At); err != nil {
		return nil, fmt.Errorf("chanpref: %w", err)
	}
	return b, nil
}

// appendAge appends At - t in nanoseconds.
func (s *State) appendAge(b []byte, t time.Time) ([]byte, error) {
	b, ok := wire.AppendAge(b, s.At, t, wire.Epoch)
	if !ok {
		return nil, fmt.Errorf("time %v is after At or before 1970", t)
	}
	return b, nil
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data, ErrCorrupt)
	var d State
	flags := r.Byte()
	if r.Err() == nil && (flags == 0 || flags&^7 != 0 || flags&flagAt == 0 && flags&flagFloor != 0) {
		r.Fail("bad flags")
	}
	if flags&flagZone != 0 {
		d.TimeZone = r.Str()
		d.ZoneAt = r.NanoTime()
		if r.Err() == nil && (d.TimeZone == "" || len(d.TimeZone) > maxZoneLen) {
			r.Fail("time zone must be 1 to 64 bytes")
		}
	}
	if flags&flagAt != 0 && r.Err() == nil {
		d.At = r.NanoTime()
		if flags&flagFloor != 0 {
			d.Floor = r.Age(d.At, wire.Epoch)
		}
		n := r.Uvarint()
		if r.Err() == nil && (n > maxChannels || n*3 > uint64(r.Remaining())) {
			r.Fail("too many channels")
		}
		if r.Err() == nil && n > 0 {
			d.Channels = make([]Channel, n)
		}
		for i := range d.Channels {
			c := &d.Channels[i]
			c.Name = r.Str()
			c.Score = Points(r.Uvarint())
			c.Last = r.Age(d.At, wire.Epoch)
			switch {
			case r.Err() != nil:
			case c.Name == "" || len(c.Name) > maxChannelLen || i > 0 && c.Name <= d.Channels[i-1].Name:
				r.Fail("channel names must be 1 to 64 bytes, unique and sorted")
			case c.Score == 0 || c.Score > maxPoints:
				r.Fail("channel score out of range")
			}
		}
		bitmap := r.Uvarint()
		if r.Err() == nil && bitmap >= 1<<24 {
			r.Fail("bad hours bitmap")
		}
		for h := range d.Hours {
			if bitmap&(1<<h) != 0 {
				d.Hours[h] = Points(r.Uvarint())
				if r.Err() == nil && (d.Hours[h] == 0 || d.Hours[h] > maxPoints) {
					r.Fail("hour score out of range")
				}
			}
		}
		d.ReadEvents(&r, d.At)
	}
	if err := r.Finish(); err != nil {
		return err
	}
	*s = d
	return nil
}
