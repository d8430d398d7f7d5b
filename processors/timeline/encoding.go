package timeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("timeline: corrupt state")

func validTime(t time.Time) bool { return !t.IsZero() && wire.InUnixRange(t) }

// Flags of an entry's numbers.
const (
	flagRating = 1
	flagScore  = 2
)

// MarshalBinary implements journey.State. An empty timeline is zero
// bytes; any other is a uvarint count of entries, then each entry:
//
//	byte     kind (1 event, 2 fired, 3 held, 4 released, 5 suppressed)
//	time     At: varint Unix seconds, uvarint nanoseconds
//	strings  Channel, Name, ID, Reason, ProductID, Category, CartID,
//	         OrderID, ContactID (each a uvarint length and the bytes)
//	strings  Causes: a uvarint count, then each string
//	byte     flags: 1 rating, 2 score; then each present as 8 bytes of
//	         float64 bits, little-endian
//
// Entries are in time order. The encoding is canonical.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if len(s.Entries) == 0 {
		return b, nil
	}
	b = binary.AppendUvarint(b, uint64(len(s.Entries)))
	for i := range s.Entries {
		e := &s.Entries[i]
		k := slices.Index(kinds, e.Kind)
		if k < 0 || !validTime(e.At) || i > 0 && e.At.Before(s.Entries[i-1].At) || len(e.Causes) > maxCauses {
			return nil, fmt.Errorf("timeline: entry %d: bad kind, time or causes", i)
		}
		b = append(b, byte(k+1))
		b = wire.AppendUnixTime(b, e.At)
		for _, str := range e.strings() {
			b = wire.AppendString(b, *str)
		}
		b = wire.AppendStrings(b, e.Causes)
		var flags byte
		if e.Rating != nil {
			flags |= flagRating
		}
		if e.Score != nil {
			flags |= flagScore
		}
		b = append(b, flags)
		for _, v := range []*float64{e.Rating, e.Score} {
			if v != nil {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*v))
			}
		}
	}
	return b, nil
}

func (e *Entry) strings() []*string {
	return []*string{&e.Channel, &e.Name, &e.ID, &e.Reason, &e.ProductID, &e.Category, &e.CartID, &e.OrderID, &e.ContactID}
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes. Errors wrap ErrCorrupt. s keeps no reference to data.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data, ErrCorrupt)
	n := r.Count(14) // kind, time (2), 9 strings, causes, flags
	if r.Err() == nil && n == 0 {
		r.Fail("no entries")
	}
	entries := make([]Entry, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		var e Entry
		k := int(r.Byte())
		if k < 1 || k > len(kinds) {
			r.Fail("bad kind")
			break
		}
		e.Kind = kinds[k-1]
		e.At = r.NonzeroUnixTime()
		if i > 0 && e.At.Before(entries[i-1].At) {
			r.Fail("entries out of order")
		}
		for _, str := range e.strings() {
			*str = r.Str()
		}
		nc := r.CountAtMost(1, maxCauses)
		for range nc {
			e.Causes = append(e.Causes, r.Str())
		}
		flags := r.Byte()
		if flags&^(flagRating|flagScore) != 0 {
			r.Fail("bad flags")
		}
		for _, f := range []struct {
			flag byte
			v    **float64
		}{{flagRating, &e.Rating}, {flagScore, &e.Score}} {
			if flags&f.flag == 0 {
				continue
			}
			v := math.Float64frombits(r.Uint64())
			if math.IsNaN(v) || math.IsInf(v, 0) {
				r.Fail("number not finite")
			}
			*f.v = &v
		}
		entries = append(entries, e)
	}
	if err := r.Finish(); err != nil {
		return err
	}
	s.Entries = entries
	return nil
}
