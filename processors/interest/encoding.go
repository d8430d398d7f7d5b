package interest

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
var ErrCorrupt = errors.New("interest: corrupt state")

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	varint   Latest, Unix seconds
//	uvarint  Latest, nanoseconds
//	uvarint  number of categories
//	uvarint  number of views, all categories together
//	per category, in name order:
//	  string   name
//	  byte     flags: 1 fired, 2 purchased, 4 refunded (a state written
//	           before refunds were kept has no 4, and decodes unchanged)
//	  uvarint  Latest - Purchased in nanoseconds, when purchased
//	  uvarint  Latest - Refunded in nanoseconds, when refunded
//	  uvarint  number of views
//	  per view, oldest first:
//	    uvarint  Latest - At in nanoseconds
//	    string   event id
//	    string   product id
//
// where a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if s.Latest.IsZero() && len(s.Categories) == 0 {
		return b, nil
	}
	if !wire.InUnixRange(s.Latest) {
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
	b = slices.Grow(b, size)
	b = wire.AppendUnixTime(b, s.Latest)
	b = binary.AppendUvarint(b, uint64(len(s.Categories)))
	b = binary.AppendUvarint(b, uint64(views))
	var err error
	for i := range s.Categories {
		c := &s.Categories[i]
		if c.Name == "" || i > 0 && c.Name <= s.Categories[i-1].Name {
			return nil, fmt.Errorf("interest: category %d: names must be non-empty, unique and sorted", i)
		}
		b = wire.AppendString(b, c.Name)
		var flags byte
		if c.Fired {
			flags |= 1
		}
		if !c.Purchased.IsZero() {
			flags |= 2
		}
		if !c.Refunded.IsZero() {
			flags |= 4
		}
		b = append(b, flags)
		if !c.Purchased.IsZero() {
			if b, err = s.appendAge(b, c.Purchased); err != nil {
				return nil, fmt.Errorf("interest: category %q: purchase: %w", c.Name, err)
			}
		}
		if !c.Refunded.IsZero() {
			if b, err = s.appendAge(b, c.Refunded); err != nil {
				return nil, fmt.Errorf("interest: category %q: refund: %w", c.Name, err)
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
			b = wire.AppendString(b, v.EventID)
			b = wire.AppendString(b, v.ProductID)
		}
	}
	return b, nil
}

// appendAge appends Latest - t in nanoseconds.
func (s *State) appendAge(b []byte, t time.Time) ([]byte, error) {
	b, ok := wire.AppendAge(b, s.Latest, t, time.Time{})
	if !ok {
		return nil, fmt.Errorf("time %v is after Latest or too far before it", t)
	}
	return b, nil
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
	latest := r.UnixTime()
	// Each category takes at least 3 bytes, each view 4.
	cats := make([]Category, r.Count(3))
	views := make([]View, r.Count(4))
	used := 0
	for i := 0; i < len(cats) && r.Err() == nil; i++ {
		c := &cats[i]
		if c.Name = r.Str(); c.Name == "" || i > 0 && c.Name <= cats[i-1].Name {
			r.Fail("category names must be non-empty, unique and sorted")
		}
		flags := r.Byte()
		if flags&^7 != 0 {
			r.Fail("unknown category flags")
		}
		c.Fired = flags&1 != 0
		if flags&2 != 0 {
			c.Purchased = r.Age(latest, time.Time{})
		}
		if flags&4 != 0 {
			c.Refunded = r.Age(latest, time.Time{})
		}
		n := r.Uvarint()
		if n > uint64(len(views)-used) {
			r.Fail("more views than announced")
			break
		}
		if n > 0 {
			c.Views = views[used : used+int(n) : used+int(n)]
			used += int(n)
		}
		for j := range c.Views {
			v := &c.Views[j]
			v.At = r.Age(latest, time.Time{})
			v.EventID = r.Str()
			v.ProductID = r.Str()
			if r.Err() == nil && (v.EventID == "" || j > 0 && v.At.Before(c.Views[j-1].At)) {
				r.Fail("views need an event id and must be in time order")
			}
		}
	}
	if r.Err() == nil && used != len(views) {
		r.Fail("fewer views than announced")
	}
	if err := r.Finish(); err != nil {
		return err
	}
	s.Latest = latest
	if len(cats) > 0 {
		s.Categories = cats
	}
	return nil
}
