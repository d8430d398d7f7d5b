package dormancy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("dormancy: corrupt state")

// validTime reports whether t is set and between year 1 and year 9999
// (what RFC 3339 can write).
func validTime(t time.Time) bool { return !t.IsZero() && wire.InUnixRange(t) }

// Flags in the encoding.
const (
	flagEngaged = 1 // LastEngaged and EventID follow
	flagArmed   = 2 // Deadline follows
	flagFired   = 4 // Fired follows
)

// MarshalBinary implements journey.State. The state of a customer who
// never engaged is zero bytes; any other is
//
//	byte    flags: 1 engaged, 2 armed, 4 fired
//	time    LastEngaged, then string EventID, when engaged
//	time    Deadline, when armed
//	time    Fired, when fired
//
// where a time is a varint of Unix seconds and a uvarint of nanoseconds,
// and a string is a uvarint length and the bytes. A state armed or fired
// is engaged. The encoding is canonical: equal states encode to equal
// bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	var flags byte
	if !s.LastEngaged.IsZero() {
		flags |= flagEngaged
	}
	if !s.Deadline.IsZero() {
		flags |= flagArmed
	}
	if !s.Fired.IsZero() {
		flags |= flagFired
	}
	if flags == 0 && s.EventID == "" {
		return b, nil
	}
	if flags&flagEngaged == 0 {
		return nil, errors.New("dormancy: a state armed, fired or with an event id needs a last engagement")
	}
	b = slices.Grow(b, 40+len(s.EventID))
	b = append(b, flags)
	var err error
	for _, f := range []struct {
		flag byte
		t    time.Time
	}{{flagEngaged, s.LastEngaged}, {flagArmed, s.Deadline}, {flagFired, s.Fired}} {
		if flags&f.flag == 0 {
			continue
		}
		if b, err = appendTime(b, f.t); err != nil {
			return nil, err
		}
		if f.flag == flagEngaged {
			b = wire.AppendString(b, s.EventID)
		}
	}
	return b, nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if !validTime(t) {
		return nil, fmt.Errorf("dormancy: time %v is out of range", t)
	}
	return wire.AppendUnixTime(b, t), nil
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
	flags := r.Byte()
	if flags&^(flagEngaged|flagArmed|flagFired) != 0 || flags&flagEngaged == 0 {
		return fmt.Errorf("%w: bad flags %#x", ErrCorrupt, flags)
	}
	var st State
	st.LastEngaged = r.NonzeroUnixTime()
	st.EventID = r.Str()
	if flags&flagArmed != 0 {
		st.Deadline = r.NonzeroUnixTime()
	}
	if flags&flagFired != 0 {
		st.Fired = r.NonzeroUnixTime()
	}
	if err := r.Finish(); err != nil {
		return err
	}
	*s = st
	return nil
}
