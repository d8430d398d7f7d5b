package ingest

import (
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the decoder's JSON parser. It gives exactly the values
// encoding/json gives when unmarshalling into an `any` (map[string]any,
// []any, string, float64, bool, nil; invalid UTF-8 coerced to U+FFFD the
// same way; the last of duplicate keys wins; nesting limited to 10000) and
// fails on exactly the same inputs (FuzzParseJSON checks both against
// encoding/json). It is here for speed: one pass instead of encoding/json's
// two, no reflection, maps and slices allocated at their final size,
// object keys the schemas name (product_id, context...) shared instead of
// allocated for every event, and a Segment message's context and envelope
// read without building what the decoder does not use (fastsegment.go).
// bench/decoders holds it against maintained JSON libraries; see
// bench/README.md.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// parser parses one JSON text. Parsers are pooled: their scratch stacks
// outlive a parse, emptied.
type parser struct {
	data  []byte
	pos   int
	depth int
	// keys holds the interned object keys. Read-only.
	keys map[string]string
	// pruneContext builds only the context members in contextKeep
	// (parseEvent).
	pruneContext bool
	// elems and members are stacks of the arrays and objects being parsed.
	elems   []any
	members []member
	// buf is scratch space to unescape strings in.
	buf []byte
	// consents are the consent maps made so far, by the consent object's
	// bytes (consentMember); kept across parses. Read-only maps.
	consents map[string]map[string]bool
	// recalled are strings kept across parses by their bytes (recall).
	recalled map[string]string
	// boxed are short string values kept boxed across parses by their
	// bytes (strValue): categories, currencies, channels and product ids
	// repeat from event to event, and a boxed string costs two
	// allocations (its bytes and the header the interface points to).
	boxed *[boxedSlots]boxedValue
}

type member struct {
	key string
	val any
}

var parsers = sync.Pool{New: func() any { return new(parser) }}

// syntaxError is a JSON syntax error at a byte offset.
type syntaxError struct{ off int }

// rangeError is a number out of float64's range.
type rangeError struct{}

// parseJSON parses b into the values encoding/json would give, sharing the
// strings of keys with it. what names b in errors.
func parseJSON(b []byte, what string, keys map[string]string) (any, *Error) {
	return parse(b, what, keys, false)
}

// parseEvent is parseJSON for a record's value: the same values, and the
// same failures, except that of a top-level "context" object only the
// members the decoder reads are built (contextKeep).
func parseEvent(b []byte, what string, keys map[string]string) (any, *Error) {
	return parse(b, what, keys, true)
}

func parse(b []byte, what string, keys map[string]string, pruneContext bool) (any, *Error) {
	p := getParser(b, keys, pruneContext)
	v, err := p.parse()
	putParser(p)

	switch err := err.(type) {
	case nil:
		return v, nil
	case rangeError:
		return nil, errorf(ReasonFormat, "%s holds a number out of range", what)
	case syntaxError:
		if len(trimSpace(b)) == 0 {
			return nil, errorf(ReasonFormat, "%s is empty", what)
		}
		return nil, errorf(ReasonFormat, "%s is not valid JSON (at byte %d)", what, err.off)
	}
	return nil, errorf(ReasonFormat, "%s is not valid JSON", what)
}

// getParser takes a pooled parser, set to parse b.
func getParser(b []byte, keys map[string]string, pruneContext bool) *parser {
	p := parsers.Get().(*parser)
	p.data, p.pos, p.depth, p.keys, p.pruneContext = b, 0, 0, keys, pruneContext
	return p
}

// putParser returns p to the pool, without a reference into its parse.
func putParser(p *parser) {
	clear(p.elems[:cap(p.elems)])
	clear(p.members[:cap(p.members)])
	p.elems, p.members = p.elems[:0], p.members[:0]
	if cap(p.elems) > 4096 || cap(p.members) > 4096 || cap(p.buf) > 1<<16 {
		*p = parser{}
	}
	p.data, p.keys = nil, nil
	parsers.Put(p)
}

func (syntaxError) Error() string { return "syntax error" }
func (rangeError) Error() string  { return "number out of range" }

func (p *parser) parse() (any, error) {
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.fail()
	}
	return v, nil
}

func (p *parser) fail() error { return syntaxError{p.pos} }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.pos < len(p.data) && isSpace(p.data[p.pos]) {
		p.pos++
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func (p *parser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.fail()
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.strValue()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return nil, p.fail()
}

func (p *parser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.fail()
	}
	p.pos += len(lit)
	return nil
}

// contextKeep are the members of a Segment message's context the decoder
// reads (and the schema checks). With parser.pruneContext, the others are
// checked for syntax but not built: producers send kilobytes of library,
// device, page and user agent details there on every event.
var contextKeep = map[string]bool{"channel": true, "timezone": true, "consent": true, "traits": true}

func (p *parser) object() (any, error) {
	return p.objectOf(nil)
}

// objectOf parses an object; with keep, only the members it names are
// built, the others skipped.
func (p *parser) objectOf(keep map[string]bool) (any, error) {
	p.pos++ // {
	if p.depth++; p.depth > maxDepth {
		return nil, p.fail()
	}
	base := len(p.members)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return map[string]any{}, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.fail()
		}
		k, err := p.str(true)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.fail()
		}
		p.pos++
		switch {
		case keep != nil && !keep[k]:
			if err := p.skip(); err != nil {
				return nil, err
			}
		case p.pruneContext && p.depth == 1 && k == "context":
			p.skipSpace()
			if p.pos < len(p.data) && p.data[p.pos] == '{' {
				v, err := p.objectOf(contextKeep)
				if err != nil {
					return nil, err
				}
				p.members = append(p.members, member{k, v})
				break
			}
			fallthrough
		default:
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			p.members = append(p.members, member{k, v})
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail()
		}
		c := p.data[p.pos]
		p.pos++
		if c == '}' {
			break
		}
		if c != ',' {
			p.pos--
			return nil, p.fail()
		}
	}
	ms := p.members[base:]
	m := make(map[string]any, len(ms))
	for _, e := range ms {
		m[e.key] = e.val
	}
	clear(ms)
	p.members = p.members[:base]
	p.depth--
	return m, nil
}

func (p *parser) array() (any, error) {
	p.pos++ // [
	if p.depth++; p.depth > maxDepth {
		return nil, p.fail()
	}
	base := len(p.elems)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return []any{}, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		p.elems = append(p.elems, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.fail()
		}
		c := p.data[p.pos]
		p.pos++
		if c == ']' {
			break
		}
		if c != ',' {
			p.pos--
			return nil, p.fail()
		}
	}
	es := p.elems[base:]
	a := make([]any, len(es))
	copy(a, es)
	clear(es)
	p.elems = p.elems[:base]
	p.depth--
	return a, nil
}

// number parses a number as the JSON grammar has it, into a float64.
func (p *parser) number() (any, error) {
	d := p.data
	start := p.pos
	i := p.pos
	if d[i] == '-' {
		i++
	}
	// Integer part: 0, or a non-zero digit and more digits.
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return nil, p.fail()
	}
	simple := true
	if i < len(d) && d[i] == '.' {
		simple = false
		i++
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			p.pos = i
			return nil, p.fail()
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		simple = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			p.pos = i
			return nil, p.fail()
		}
	}
	p.pos = i
	lit := d[start:i]
	// Up to 15 digits, an integer is exact in a float64.
	if simple && len(lit) <= 15 {
		n, neg := int64(0), false
		for _, c := range lit {
			if c == '-' {
				neg = true
				continue
			}
			n = n*10 + int64(c-'0')
		}
		f := float64(n)
		if neg {
			f = -f
		}
		return f, nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, rangeError{} // the syntax was checked above
	}
	return f, nil
}

// skip parses a value as value does, failing on exactly the same input at
// the same offset, without building it.
func (p *parser) skip() error {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.fail()
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		if p.depth++; p.depth > maxDepth {
			return p.fail()
		}
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			p.depth--
			return nil
		}
		for {
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return p.fail()
			}
			if err := p.skipStr(); err != nil {
				return err
			}
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return p.fail()
			}
			p.pos++
			if err := p.skip(); err != nil {
				return err
			}
			if err := p.next('}'); err != nil {
				if err == errEnd {
					p.depth--
					return nil
				}
				return err
			}
		}
	case c == '[':
		p.pos++
		if p.depth++; p.depth > maxDepth {
			return p.fail()
		}
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			p.depth--
			return nil
		}
		for {
			if err := p.skip(); err != nil {
				return err
			}
			if err := p.next(']'); err != nil {
				if err == errEnd {
					p.depth--
					return nil
				}
				return err
			}
		}
	case c == '"':
		return p.skipStr()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		_, err := p.number()
		return err
	}
	return p.fail()
}

// errEnd is next's report of the closing bracket.
var errEnd = errors.New("end")

// next consumes the separator after a member or element: nil for a comma,
// errEnd for the closing bracket, a syntax error otherwise (at the offsets
// object and array report).
func (p *parser) next(closing byte) error {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.fail()
	}
	c := p.data[p.pos]
	p.pos++
	if c == closing {
		return errEnd
	}
	if c != ',' {
		p.pos--
		return p.fail()
	}
	return nil
}

// skipStr checks a string as str does, without building it.
func (p *parser) skipStr() error {
	d := p.data
	i := p.pos + 1 // "
	for {
		if i >= len(d) {
			p.pos = i
			return p.fail()
		}
		switch c := d[i]; {
		case c == '"':
			p.pos = i + 1
			return nil
		case c < ' ':
			p.pos = i
			return p.fail()
		case c == '\\':
			if i+1 >= len(d) {
				p.pos = i + 1
				return p.fail()
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(d[i:]) < 0 {
					p.pos = i
					return p.fail()
				}
				i += 6
			default:
				p.pos = i + 1
				return p.fail()
			}
		default:
			i++ // invalid UTF-8 is replaced, never refused
		}
	}
}

// key parses an object key that the caller compares and does not keep:
// when it has no escapes and is ASCII, the input's own bytes (no copy, no
// lookup), valid while the input is; else as str does.
func (p *parser) key() ([]byte, error) {
	if b, ok := p.plain(); ok {
		return b, nil
	}
	s, err := p.str(false)
	return []byte(s), err
}

// intern returns b as a string: the interned one when p.keys holds it.
func (p *parser) intern(b []byte) string {
	if s, ok := p.keys[string(b)]; ok {
		return s
	}
	return string(b)
}

// own returns a key from key that the caller may keep: the interned
// string when the schemas name it, else a copy.
func (p *parser) own(k []byte) string {
	if s, ok := p.keys[string(k)]; ok {
		return s
	}
	return string(k)
}

// str parses a string. A key is looked up in p.keys first.
func (p *parser) str(key bool) (string, error) {
	d := p.data
	p.pos++ // "
	start := p.pos
	// Fast path: printable ASCII and valid UTF-8 up to the closing quote.
	i := start
	for i < len(d) {
		c := d[i]
		if c == '"' {
			raw := d[start:i]
			p.pos = i + 1
			if key {
				if s, ok := p.keys[string(raw)]; ok {
					return s, nil
				}
			}
			return string(raw), nil
		}
		if c == '\\' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(d[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return p.strSlow(start, i)
}

// plain reads the string at p.pos (its opening quote) when it is printable
// ASCII with no escapes, as most are: its bytes, the input's own, and p.pos
// past it. Otherwise it returns false and leaves p.pos alone.
func (p *parser) plain() ([]byte, bool) {
	d := p.data
	for i := p.pos + 1; i < len(d); i++ {
		c := d[i]
		if c == '"' {
			b := d[p.pos+1 : i]
			p.pos = i + 1
			return b, true
		}
		if c == '\\' || c < ' ' || c >= utf8.RuneSelf {
			break
		}
	}
	return nil, false
}

// strValue parses a string value. A short one that needs no unescaping
// comes from the parser's memory of boxed values when it has been seen
// before (strings are immutable: sharing one is safe).
func (p *parser) strValue() (any, error) {
	if b, ok := p.plain(); ok {
		return p.box(b), nil
	}
	s, err := p.str(false) // escapes or UTF-8 to check: the general code
	if err != nil {
		return nil, err
	}
	return s, nil
}

// box returns b as a string in an any, the same one as before for the
// same bytes while it is remembered: a direct-mapped memory of short
// values, where a value that misses replaces the one in its slot, so a
// miss costs a hash and a store, and values that keep repeating stay.
func (p *parser) box(b []byte) any {
	if len(b) > maxBoxedBytes {
		return string(b)
	}
	if p.boxed == nil {
		p.boxed = new([boxedSlots]boxedValue)
	}
	slot := &p.boxed[maphash.Bytes(boxSeed, b)&(boxedSlots-1)]
	if slot.s == string(b) && slot.v != nil {
		return slot.v
	}
	s := string(b)
	slot.s, slot.v = s, s
	return slot.v
}

// boxedValue is a slot of the memory of boxed values: a string and the
// same string in an any.
type boxedValue struct {
	s string
	v any
}

// The size of the memory of boxed values (box): slots (a power of two)
// and the longest value kept.
const (
	boxedSlots    = 1024
	maxBoxedBytes = 32
)

var boxSeed = maphash.MakeSeed()

// strSlow unescapes a string whose first i-start bytes need no work, as
// encoding/json does: invalid UTF-8 and lone surrogates become U+FFFD.
func (p *parser) strSlow(start, i int) (string, error) {
	d := p.data
	b := append(p.buf[:0], d[start:i]...)
	defer func() { p.buf = b[:0] }()
	for {
		if i >= len(d) {
			p.pos = i
			return "", p.fail()
		}
		switch c := d[i]; {
		case c == '"':
			p.pos = i + 1
			return string(b), nil
		case c < ' ':
			p.pos = i
			return "", p.fail()
		case c == '\\':
			if i+1 >= len(d) {
				p.pos = i + 1
				return "", p.fail()
			}
			switch e := d[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i += 2
			case 'b':
				b = append(b, '\b')
				i += 2
			case 'f':
				b = append(b, '\f')
				i += 2
			case 'n':
				b = append(b, '\n')
				i += 2
			case 'r':
				b = append(b, '\r')
				i += 2
			case 't':
				b = append(b, '\t')
				i += 2
			case 'u':
				r := hex4(d[i:])
				if r < 0 {
					p.pos = i
					return "", p.fail()
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if dec := utf16.DecodeRune(r, hex4(d[i:])); dec != unicode.ReplacementChar {
						b = utf8.AppendRune(b, dec)
						i += 6
						break
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
			default:
				p.pos = i + 1
				return "", p.fail()
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
}

// hex4 decodes the \uXXXX escape at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
