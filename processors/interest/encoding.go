package interest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("interest: corrupt state")

// Times are kept between year 1 and year 9999 (what RFC 3339 can write).
var (
	minUnix = time.Time{}.Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	varint   Latest, Unix seconds
//	uvarint  Latest, nanoseconds
//	uvarint  number of categories
//	uvarint  number of views, all categories together
//	per category, in name order:
//	  string   name
//	  byte     flags: 1 fired, 2 purchased
//	  uvarint  Latest - Purchased in nanoseconds, when purchased
//	  uvarint  number of views
//	  per view, oldest first:
//	    uvarint  Latest - At in nanoseconds
//	    string   event id
//	    string   product id
//
// where a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) {
	if s.Latest.IsZero() && len(s.Categories) == 0 {
		return nil, nil
	}
	if sec := s.Latest.Unix(); sec < minUnix || sec > maxUnix {
		return nil, fmt.Errorf("interest: Latest %v is out of range", s.Latest)
	}
	// Usually exact: ages of a few weeks take 7 bytes, lengths 1.
	size, views := 24, 0
	for i := range s.Categories {
		c := &s.Categories[i]
		size += 14 + len(c.Name)
		for j := range c.Views {
			size += 9 + len(c.Views[j].EventID) + len(c.Views[j].ProductID)
		}
		views += len(c.Views)
	}
	b := make([]byte, 0, size)
	b = binary.AppendVarint(b, s.Latest.Unix())
	b = binary.AppendUvarint(b, uint64(s.Latest.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(len(s.Categories)))
	b = binary.AppendUvarint(b, uint64(views))
	var err error
	for i := range s.Categories {
		c := &s.Categories[i]
		if c.Name == "" || i > 0 && c.Name <= s.Categories[i-1].Name {
			return nil, fmt.Errorf("interest: category %d: names must be non-empty, unique and sorted", i)
		}
		b = appendString(b, c.Name)
		var flags byte
		if c.Fired {
			flags |= 1
		}
		if !c.Purchased.IsZero() {
			flags |= 2
		}
		b = append(b, flags)
		if !c.Purchased.IsZero() {
			if b, err = s.appendAge(b, c.Purchased); err != nil {
				return nil, fmt.Errorf("interest: category %q: purchase: %w", c.Name, err)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(c.Views)))
		for j := range c.Views {
			v := &c.Views[j]
			if v.EventID == "" || j > 0 && v.At.Before(c.Views[j-1].At) {
				return nil, fmt.Errorf("interest: category %q: view %d: views need an event id and must be in time order", c.Name, j)
			}
			if b, err = s.appendAge(b, v.At); err != nil {
				return nil, fmt.Errorf("interest: category %q: view %d: %w", c.Name, j, err)
			}
			b = appendString(b, v.EventID)
			b = appendString(b, v.ProductID)
		}
	}
	return b, nil
}

// appendAge appends Latest - t in nanoseconds.
func (s *State) appendAge(b []byte, t time.Time) ([]byte, error) {
	d := s.Latest.Sub(t)
	if d < 0 || d == math.MaxInt64 {
		return nil, fmt.Errorf("time %v is after Latest or too far before it", t)
	}
	return binary.AppendUvarint(b, uint64(d)), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
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
	sec := r.varint()
	nsec := r.uvarint()
	if r.err == nil && (sec < minUnix || sec > maxUnix || nsec >= 1e9) {
		r.fail("Latest out of range")
	}
	latest := time.Unix(sec, int64(nsec)).UTC()
	// Each category takes at least 3 bytes, each view 4.
	cats := make([]Category, r.count(3))
	views := make([]View, r.count(4))
	used := 0
	for i := 0; i < len(cats) && r.err == nil; i++ {
		c := &cats[i]
		if c.Name = r.str(); c.Name == "" || i > 0 && c.Name <= cats[i-1].Name {
			r.fail("category names must be non-empty, unique and sorted")
		}
		flags := r.byte()
		if flags&^3 != 0 {
			r.fail("unknown category flags")
		}
		c.Fired = flags&1 != 0
		if flags&2 != 0 {
			c.Purchased = r.time(latest)
		}
		n := r.uvarint()
		if n > uint64(len(views)-used) {
			r.fail("more views than announced")
			break
		}
		if n > 0 {
			c.Views = views[used : used+int(n) : used+int(n)]
			used += int(n)
		}
		for j := range c.Views {
			v := &c.Views[j]
			v.At = r.time(latest)
			v.EventID = r.str()
			v.ProductID = r.str()
			if r.err == nil && (v.EventID == "" || j > 0 && v.At.Before(c.Views[j-1].At)) {
				r.fail("views need an event id and must be in time order")
			}
		}
	}
	if r.err == nil && used != len(views) {
		r.fail("fewer views than announced")
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	s.Latest = latest
	if len(cats) > 0 {
		s.Categories = cats
	}
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

// time reads an age before latest.
func (r *reader) time(latest time.Time) time.Time {
	d := r.uvarint()
	if d >= math.MaxInt64 || time.Duration(d) > latest.Sub(time.Time{}) {
		r.fail("time out of range")
		return time.Time{}
	}
	return latest.Add(-time.Duration(d))
}
