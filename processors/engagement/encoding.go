package engagement

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/seen"
	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("engagement: corrupt state")

// validTime reports whether t is between 1970 and 2200: every time in the
// state is then a whole number of nanoseconds since 1970 that fits an
// int64, and so is every difference between two of them.
func validTime(t time.Time) bool { return wire.InNanoRange(t) }

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	uvarint  At, nanoseconds since 1970
//	uvarint  Score, millionths of a point
//	string   Tier
//	byte     flags: 1 Floor is set, 2 Owed is set (a state written before
//	         Owed was kept has no 2, and decodes unchanged)
//	uvarint  At - Floor in nanoseconds, when set
//	uvarint  Owed, millionths of a point, when set
//	uvarint  number of Seen
//	per Seen, by time then hash:
//	  8 bytes  the id hash, little-endian
//	  uvarint  At - Seen.At in nanoseconds
//
// where a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if s.At.IsZero() && s.Score == 0 && s.Owed == 0 && s.Tier == "" && len(s.Seen) == 0 && s.Floor.IsZero() {
		return b, nil
	}
	if !validTime(s.At) {
		return nil, fmt.Errorf("engagement: At %v is out of range", s.At)
	}
	if s.Score > maxPoints || s.Owed > maxPoints {
		return nil, fmt.Errorf("engagement: score %d or owed %d above the cap", s.Score, s.Owed)
	}
	b = slices.Grow(b, 24+len(s.Tier)+14*len(s.Seen))
	b = wire.AppendNanoTime(b, s.At)
	b = binary.AppendUvarint(b, uint64(s.Score))
	b = wire.AppendString(b, s.Tier)
	var err error
	var flags byte
	if !s.Floor.IsZero() {
		flags |= 1
	}
	if s.Owed != 0 {
		flags |= 2
	}
	b = append(b, flags)
	if !s.Floor.IsZero() {
		if b, err = s.appendAge(b, s.Floor); err != nil {
			return nil, fmt.Errorf("engagement: floor: %w", err)
		}
	}
	if s.Owed != 0 {
		b = binary.AppendUvarint(b, uint64(s.Owed))
	}
	if b, err = s.AppendEvents(b, s.At); err != nil {
		return nil, fmt.Errorf("engagement: %w", err)
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
	at := r.NanoTime()
	score := Points(r.Uvarint())
	if r.Err() == nil && score > maxPoints {
		r.Fail("score above the cap")
	}
	tier := r.Str()
	if r.Err() == nil && (tier == "" || len(tier) > maxNameLen) {
		r.Fail("tier must be 1 to 64 bytes")
	}
	var w seen.Window
	var owed Points
	flags := r.Byte()
	if flags&^3 != 0 {
		r.Fail("unknown flags")
	}
	if flags&1 != 0 {
		w.Floor = r.Age(at, wire.Epoch)
	}
	if flags&2 != 0 {
		if owed = Points(r.Uvarint()); r.Err() == nil && (owed == 0 || owed > maxPoints) {
			r.Fail("owed must be set and at most the cap")
		}
	}
	w.ReadEvents(&r, at)
	if err := r.Finish(); err != nil {
		return err
	}
	*s = State{At: at, Score: score, Owed: owed, Tier: tier, Window: w}
	return nil
}
