package cart

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("cart: corrupt state")

// Times are kept between year 1 and year 9999 (what RFC 3339 can write).
var (
	minUnix = time.Time{}.Unix()
	maxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

func validTime(t time.Time) bool {
	sec := t.Unix()
	return !t.IsZero() && sec >= minUnix && sec <= maxUnix
}

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
//
// where a time is a varint of Unix seconds and a uvarint of nanoseconds,
// and a string is a uvarint length and the bytes. The encoding is
// canonical: equal states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) {
	if len(s.Carts) == 0 && len(s.Closed) == 0 {
		return nil, nil
	}
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
	b := make([]byte, 0, size)
	var err error
	b = binary.AppendUvarint(b, uint64(len(s.Carts)))
	for i := range s.Carts {
		c := &s.Carts[i]
		if c.ID == "" {
			return nil, fmt.Errorf("cart: cart %d has no id", i)
		}
		b = appendString(b, c.ID)
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
		b = appendString(b, c.Currency)
		if len(c.Items) == 0 {
			return nil, fmt.Errorf("cart: cart %q has no items", c.ID)
		}
		b = binary.AppendUvarint(b, uint64(len(c.Items)))
		for j := range c.Items {
			it := &c.Items[j]
			if it.ProductID == "" || it.Quantity == 0 || !validPrice(it.Price) {
				return nil, fmt.Errorf("cart: cart %q: item %d: items need a product id, a quantity and a price >= 0", c.ID, j)
			}
			b = appendString(b, it.ProductID)
			b = binary.AppendUvarint(b, uint64(it.Quantity))
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(it.Price))
			if b, err = appendTime(b, it.Added); err != nil {
				return nil, fmt.Errorf("cart: cart %q: item %d: %w", c.ID, j, err)
			}
		}
		b = appendStrings(b, c.Adds)
		b = appendStrings(b, c.Removes)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Closed)))
	for i := range s.Closed {
		c := &s.Closed[i]
		b = appendString(b, c.ID)
		if b, err = appendTime(b, c.At); err != nil {
			return nil, fmt.Errorf("cart: closed cart %q: %w", c.ID, err)
		}
	}
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
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond())), nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
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
	// A cart takes at least 10 bytes, an item 11, a closed cart 3.
	carts := make([]Cart, r.count(10))
	for i := 0; i < len(carts) && r.err == nil; i++ {
		c := &carts[i]
		if c.ID = r.str(); c.ID == "" || slices.ContainsFunc(carts[:i], func(o Cart) bool { return o.ID == c.ID }) {
			r.fail("cart ids must be non-empty and unique")
		}
		c.Opened = r.time()
		c.Updated = r.time()
		flags := r.byte()
		if flags&^(flagArmed|flagAbandoned) != 0 {
			r.fail("unknown cart flags")
		}
		if flags&flagArmed != 0 {
			c.Deadline = r.time()
		}
		if flags&flagAbandoned != 0 {
			c.Abandoned = r.time()
		}
		c.Currency = r.str()
		if c.Items = make([]Item, r.count(11)); len(c.Items) == 0 {
			r.fail("a cart has no items")
		}
		for j := 0; j < len(c.Items) && r.err == nil; j++ {
			it := &c.Items[j]
			it.ProductID = r.str()
			q := r.uvarint()
			it.Price = math.Float64frombits(r.uint64())
			it.Added = r.time()
			if r.err == nil && (it.ProductID == "" || q == 0 || q > maxQuantity || !validPrice(it.Price)) {
				r.fail("items need a product id, a quantity and a valid price")
			}
			it.Quantity = uint32(q)
		}
		c.Adds = r.strs()
		c.Removes = r.strs()
	}
	closed := make([]Closed, r.count(3))
	for i := 0; i < len(closed) && r.err == nil; i++ {
		if closed[i].ID = r.str(); closed[i].ID == "" || slices.ContainsFunc(closed[:i], func(o Closed) bool { return o.ID == closed[i].ID }) {
			r.fail("closed cart ids must be non-empty and unique")
		}
		closed[i].At = r.time()
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	if len(carts) > 0 {
		s.Carts = carts
	}
	if len(closed) > 0 {
		s.Closed = closed
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

func (r *reader) uint64() uint64 {
	if len(r.b)-r.off < 8 {
		r.fail("unexpected end")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
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

// strs reads a list of non-empty strings; an empty list is nil.
func (r *reader) strs() []string {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i] = r.str(); ss[i] == "" && r.err == nil {
			r.fail("an empty event id")
		}
	}
	return ss
}

func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if sec < minUnix || sec > maxUnix || nsec >= 1e9 {
		r.fail("time out of range")
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		r.fail("zero time")
	}
	return t
}
