package engagement

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("engagement: corrupt state")

// Event times are counted between 1970 and 2200: every time in the state
// is then a whole number of nanoseconds since 1970 that fits an int64, and
// so is every difference between two of them.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func validTime(t time.Time) bool { return !t.Before(minTime) && t.Before(maxTime) }

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	uvarint  At, nanoseconds since 1970
//	uvarint  Score, millionths of a point
//	string   Tier
//	byte     flags: 1 Floor is set
//	uvarint  At - Floor in nanoseconds, when set
//	uvarint  number of Seen
//	per Seen, by time then hash:
//	  8 bytes  the id hash, little-endian
//	  uvarint  At - Seen.At in nanoseconds
//
// where a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) {
	if s.At.IsZero() && s.Score == 0 && s.Tier == "" && len(s.Seen) == 0 && s.Floor.IsZero() {
		return nil, nil
	}
	if !validTime(s.At) {
		return nil, fmt.Errorf("engagement: At %v is out of range", s.At)
	}
	if s.Score > maxPoints {
		return nil, fmt.Errorf("engagement: score %d above the cap", s.Score)
	}
	b := make([]byte, 0, 24+len(s.Tier)+14*len(s.Seen))
	b = binary.AppendUvarint(b, uint64(s.At.Sub(minTime)))
	b = binary.AppendUvarint(b, uint64(s.Score))
	b = binary.AppendUvarint(b, uint64(len(s.Tier)))
	b = append(b, s.Tier...)
	var err error
	if s.Floor.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		if b, err = s.appendAge(b, s.Floor); err != nil {
			return nil, fmt.Errorf("engagement: floor: %w", err)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Seen)))
	for i := range s.Seen {
		x := &s.Seen[i]
		if i > 0 && compareSeen(s.Seen[i-1], *x) >= 0 {
			return nil, fmt.Errorf("engagement: seen %d: not in time then hash order", i)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(x.ID))
		if b, err = s.appendAge(b, time.Unix(0, x.At)); err != nil {
			return nil, fmt.Errorf("engagement: seen %d: %w", i, err)
		}
	}
	return b, nil
}

// appendAge appends At - t in nanoseconds.
func (s *State) appendAge(b []byte, t time.Time) ([]byte, error) {
	if t.After(s.At) || t.Before(minTime) {
		return nil, fmt.Errorf("time %v is after At or before 1970", t)
	}
	return binary.AppendUvarint(b, uint64(s.At.Sub(t))), nil
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := reader{b: data}
	at := r.time()
	score := Points(r.uvarint())
	if r.err == nil && score > maxPoints {
		r.fail("score above the cap")
	}
	tier := r.str()
	if r.err == nil && (tier == "" || len(tier) > maxNameLen) {
		r.fail("tier must be 1 to 64 bytes")
	}
	var floor time.Time
	switch flags := r.byte(); {
	case flags == 1:
		floor = r.age(at)
	case flags != 0:
		r.fail("unknown flags")
	}
	n := r.uvarint()
	if r.err == nil && (n > maxSeen || n*9 > uint64(len(r.b)-r.off)) {
		r.fail("too many seen ids")
	}
	var seen []Seen
	if r.err == nil && n > 0 {
		seen = make([]Seen, n)
	}
	for i := range seen {
		if len(r.b)-r.off < 8 {
			r.fail("unexpected end")
			break
		}
		seen[i].ID = IDHash(binary.LittleEndian.Uint64(r.b[r.off:]))
		r.off += 8
		seen[i].At = r.age(at).UnixNano()
		switch {
		case r.err != nil:
		case i > 0 && compareSeen(seen[i-1], seen[i]) >= 0:
			r.fail("seen ids not in time then hash order")
		case !floor.IsZero() && seen[i].At < floor.UnixNano():
			r.fail("seen id before the floor")
		}
		for j := 0; j < i && r.err == nil; j++ {
			if seen[j].ID == seen[i].ID {
				r.fail("seen id twice")
			}
		}
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	*s = State{At: at, Score: score, Tier: tier, Seen: seen, Floor: floor}
	return nil
}

// reader decodes what MarshalBinary appends. After the first error every
// read returns a zero value.
type reader struct {
	b   []byte
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

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.off) {
		r.fail("string longer than the data")
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// time reads a uvarint of nanoseconds since 1970, before 2200.
func (r *reader) time() time.Time {
	d := r.uvarint()
	if r.err == nil && d >= uint64(maxTime.Sub(minTime)) {
		r.fail("time out of range")
	}
	if r.err != nil {
		return time.Time{}
	}
	return minTime.Add(time.Duration(d))
}

// age reads a uvarint of nanoseconds before at, no earlier than 1970.
func (r *reader) age(at time.Time) time.Time {
	d := r.uvarint()
	if r.err == nil && d > uint64(at.Sub(minTime)) {
		r.fail("time out of range")
	}
	if r.err != nil {
		return time.Time{}
	}
	return at.Add(-time.Duration(d))
}
