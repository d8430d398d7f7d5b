package dormancy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("dormancy: corrupt state")

// Times are kept between year 1 and year 9999 (what RFC 3339 can write).
var (
	minUnix = time.Time{}.Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

func validTime(t time.Time) bool {
	sec := t.Unix()
	return !t.IsZero() && sec >= minUnix && sec <= maxUnix
}

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
func (s *State) MarshalBinary() ([]byte, error) {
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
		return nil, nil
	}
	if flags&flagEngaged == 0 {
		return nil, errors.New("dormancy: a state armed, fired or with an event id needs a last engagement")
	}
	b := make([]byte, 0, 40+len(s.EventID))
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
			b = binary.AppendUvarint(b, uint64(len(s.EventID)))
			b = append(b, s.EventID...)
		}
	}
	return b, nil
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if !validTime(t) {
		return nil, fmt.Errorf("dormancy: time %v is out of range", t)
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond())), nil
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	flags := data[0]
	if flags&^(flagEngaged|flagArmed|flagFired) != 0 || flags&flagEngaged == 0 {
		return fmt.Errorf("%w: bad flags %#x", ErrCorrupt, flags)
	}
	off := 1
	readTime := func() (time.Time, error) {
		sec, n := binary.Varint(data[off:])
		if n <= 0 {
			return time.Time{}, fmt.Errorf("%w: bad varint at byte %d", ErrCorrupt, off)
		}
		off += n
		nsec, n := binary.Uvarint(data[off:])
		if n <= 0 {
			return time.Time{}, fmt.Errorf("%w: bad uvarint at byte %d", ErrCorrupt, off)
		}
		off += n
		if sec < minUnix || sec > maxUnix || nsec >= 1e9 {
			return time.Time{}, fmt.Errorf("%w: time out of range at byte %d", ErrCorrupt, off)
		}
		t := time.Unix(sec, int64(nsec)).UTC()
		if t.IsZero() {
			return time.Time{}, fmt.Errorf("%w: zero time at byte %d", ErrCorrupt, off)
		}
		return t, nil
	}
	var st State
	var err error
	if st.LastEngaged, err = readTime(); err != nil {
		return err
	}
	n, k := binary.Uvarint(data[off:])
	if k <= 0 || n > uint64(len(data)-off-k) {
		return fmt.Errorf("%w: bad event id at byte %d", ErrCorrupt, off)
	}
	off += k
	st.EventID = string(data[off : off+int(n)])
	off += int(n)
	if flags&flagArmed != 0 {
		if st.Deadline, err = readTime(); err != nil {
			return err
		}
	}
	if flags&flagFired != 0 {
		if st.Fired, err = readTime(); err != nil {
			return err
		}
	}
	if off != len(data) {
		return fmt.Errorf("%w: trailing bytes at byte %d", ErrCorrupt, off)
	}
	*s = st
	return nil
}
