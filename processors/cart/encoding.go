package cart

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
var ErrCorrupt = errors.New("cart: corrupt state")

// validTime reports whether t is set and between year 1 and year 9999
// (what RFC 3339 can write).
func validTime(t time.Time) bool { return !t.IsZero() && wire.InUnixRange(t) }

// Cart flags in the encoding.
const (
	flagArmed     = 1 // Deadline follows
	flagAbandoned = 2 // Abandoned follows
)

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	uvarint  number of open carts
//	per cart, in order:
//	  string   cart id
//	  time     Opened
//	  time     Updated
//	  byte     flags: 1 armed, 2 abandoned
//	  time     Deadline, when armed
//	  time     Abandoned, when abandoned
//	  string   currency
//	  uvarint  number of items
//	  per item, in order:
//	    string   product id
//	    uvarint  quantity
//	    8 bytes  price, IEEE 754 bits, little-endian
//	    time     Added
//	  uvarint  number of add ids, then each as a string
//	  uvarint  number of removal ids, then each as a string
//	uvarint  number of closed carts
//	per closed cart, in order: string cart id, time At
//	and, only when there are any (so a state written before they were
//	recorded decodes unchanged):
//	uvarint  number of carts refreshed while not open (>= 1)
//	per refreshed cart, in order: string cart id, time At
//
// where a time is a varint of Unix seconds and a uvarint of nanoseconds,
// and a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if len(s.Carts) == 0 && len(s.Closed) == 0 && len(s.Refreshed) == 0 {
		return b, nil
	}
	b = slices.Grow(b, s.sizeHint())
	var err error
	b = binary.AppendUvarint(b, uint64(len(s.Carts)))
	for i := range s.Carts {
		if b, err = s.Carts[i].appendBinary(b, i); err != nil {
			return nil, err
		}
	}
	if b, err = appendRecords(b, s.Closed, "closed"); err != nil {
		return nil, err
	}
	if len(s.Refreshed) > 0 {
		return appendRecords(b, s.Refreshed, "refreshed")
	}
	return b, nil
}

// appendRecords appends a count and the carts of rs (closed or
// refreshed, as what says) with their times.
func appendRecords(b []byte, rs []Closed, what string) ([]byte, error) {
	var err error
	b = binary.AppendUvarint(b, uint64(len(rs)))
	for i := range rs {
		c := &rs[i]
		if c.ID == "" {
			return nil, fmt.Errorf("cart: %s cart %d has no id", what, i)
		}
		b = wire.AppendString(b, c.ID)
		if b, err = appendTime(b, c.At); err != nil {
			return nil, fmt.Errorf("cart: %s cart %q: %w", what, c.ID, err)
		}
	}
	return b, nil
}

// sizeHint is about the size of s's encoding.
func (s *State) sizeHint() int {
	size := 2
	for i := range s.Carts {
		c := &s.Carts[i]
		size += 48 + len(c.ID) + len(c.Currency)
		for j := range c.Items {
			size += 24 + len(c.Items[j].ProductID)
		}
		for _, id := range c.Adds {
			size += 1 + len(id)
		}
		for _, id := range c.Removes {
			size += 1 + len(id)
		}
	}
	for i := range s.Closed {
		size += 12 + len(s.Closed[i].ID)
	}
	for i := range s.Refreshed {
		size += 12 + len(s.Refreshed[i].ID)
	}
	return size
}

// appendBinary appends the cart, the i-th of its state, checking it can be
// encoded.
func (c *Cart) appendBinary(b []byte, i int) ([]byte, error) {
	var err error
	if c.ID == "" {
		return nil, fmt.Errorf("cart: cart %d has no id", i)
	}
	b = wire.AppendString(b, c.ID)
	if b, err = appendTime(b, c.Opened); err != nil {
		return nil, fmt.Errorf("cart: cart %q: opened: %w", c.ID, err)
	}
	if b, err = appendTime(b, c.Updated); err != nil {
		return nil, fmt.Errorf("cart: cart %q: updated: %w", c.ID, err)
	}
	var flags byte
	if !c.Deadline.IsZero() {
		flags |= flagArmed
	}
	if !c.Abandoned.IsZero() {
		flags |= flagAbandoned
	}
	b = append(b, flags)
	if !c.Deadline.IsZero() {
		if b, err = appendTime(b, c.Deadline); err != nil {
			return nil, fmt.Errorf("cart: cart %q: deadline: %w", c.ID, err)
		}
	}
	if !c.Abandoned.IsZero() {
		if b, err = appendTime(b, c.Abandoned); err != nil {
			return nil, fmt.Errorf("cart: cart %q: abandoned: %w", c.ID, err)
		}
	}
	b = wire.AppendString(b, c.Currency)
	if len(c.Items) == 0 {
		return nil, fmt.Errorf("cart: cart %q has no items", c.ID)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Items)))
	for j := range c.Items {
		it := &c.Items[j]
		if it.ProductID == "" || it.Quantity == 0 || !validPrice(it.Price) {
			return nil, fmt.Errorf("cart: cart %q: item %d: items need a product id, a quantity and a price >= 0", c.ID, j)
		}
		b = wire.AppendString(b, it.ProductID)
		b = binary.AppendUvarint(b, uint64(it.Quantity))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(it.Price))
		if b, err = appendTime(b, it.Added); err != nil {
			return nil, fmt.Errorf("cart: cart %q: item %d: %w", c.ID, j, err)
		}
	}
	b = wire.AppendStrings(b, c.Adds)
	b = wire.AppendStrings(b, c.Removes)
	return b, nil
}

// validPrice reports whether p is a price Fold keeps: between 0 and
// maxPrice, and not -0 (so that it encodes canonically).
func validPrice(p float64) bool {
	return p >= 0 && p <= maxPrice && !math.Signbit(p)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if !validTime(t) {
		return nil, fmt.Errorf("time %v is out of range", t)
	}
	return wire.AppendUnixTime(b, t), nil
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
	// A cart takes at least 10 bytes, an item 11, a closed cart 3.
	carts := make([]Cart, r.Count(10))
	for i := 0; i < len(carts) && r.Err() == nil; i++ {
		c := &carts[i]
		if c.ID = r.Str(); c.ID == "" || slices.ContainsFunc(carts[:i], func(o Cart) bool { return o.ID == c.ID }) {
			r.Fail("cart ids must be non-empty and unique")
		}
		c.Opened = r.NonzeroUnixTime()
		c.Updated = r.NonzeroUnixTime()
		flags := r.Byte()
		if flags&^(flagArmed|flagAbandoned) != 0 {
			r.Fail("unknown cart flags")
		}
		if flags&flagArmed != 0 {
			c.Deadline = r.NonzeroUnixTime()
		}
		if flags&flagAbandoned != 0 {
			c.Abandoned = r.NonzeroUnixTime()
		}
		c.Currency = r.Str()
		if c.Items = make([]Item, r.Count(11)); len(c.Items) == 0 {
			r.Fail("a cart has no items")
		}
		for j := 0; j < len(c.Items) && r.Err() == nil; j++ {
			it := &c.Items[j]
			it.ProductID = r.Str()
			q := r.Uvarint()
			it.Price = math.Float64frombits(r.Uint64())
			it.Added = r.NonzeroUnixTime()
			if r.Err() == nil && (it.ProductID == "" || q == 0 || q > maxQuantity || !validPrice(it.Price)) {
				r.Fail("items need a product id, a quantity and a valid price")
			}
			it.Quantity = uint32(q)
		}
		c.Adds = readStrs(&r)
		c.Removes = readStrs(&r)
	}
	closed := readRecords(&r, "closed")
	var refreshed []Closed
	if r.Err() == nil && r.Remaining() > 0 {
		if refreshed = readRecords(&r, "refreshed"); len(refreshed) == 0 {
			r.Fail("an empty list of refreshed carts")
		}
	}
	if err := r.Finish(); err != nil {
		return err
	}
	if len(carts) > 0 {
		s.Carts = carts
	}
	if len(closed) > 0 {
		s.Closed = closed
	}
	if len(refreshed) > 0 {
		s.Refreshed = refreshed
	}
	return nil
}

// readRecords reads what appendRecords appends; an empty list is nil.
func readRecords(r *wire.Reader, what string) []Closed {
	n := r.Count(3) // a record takes at least 3 bytes
	if n == 0 {
		return nil
	}
	rs := make([]Closed, n)
	for i := 0; i < len(rs) && r.Err() == nil; i++ {
		if rs[i].ID = r.Str(); rs[i].ID == "" || slices.ContainsFunc(rs[:i], func(o Closed) bool { return o.ID == rs[i].ID }) {
			r.Fail(what + " cart ids must be non-empty and unique")
		}
		rs[i].At = r.NonzeroUnixTime()
	}
	return rs
}

// readStrs reads what wire.AppendStrings appends, failing on an empty
// string; an empty list is nil.
func readStrs(r *wire.Reader) []string {
	n := r.Count(2)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i] = r.Str(); ss[i] == "" && r.Err() == nil {
			r.Fail("an empty event id")
		}
	}
	return ss
}
