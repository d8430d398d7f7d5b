package ingest

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// This file brings an event's properties to its event schema. A message
// valid under its envelope is never dead-lettered for its properties:
// Segment's spec requires none, and producers send ids as numbers and
// prices as strings. So the event schema is not a gate but a contract on
// what the decoder hands on: a value of the wrong type is coerced where
// Segment's own tools coerce, and dropped otherwise, so a processor reading
// a property finds the schema's type or nothing.
//
//   - A string where a number (or an integer) is wanted is read as the
//     number it spells, when it is a JSON number literal ("19.99"); the
//     value is then checked again (an integer wanted and "2.5" found is
//     dropped, so is "-1" for an amount).
//   - A number where a string is wanted becomes the string of its digits
//     when it is a whole number below 2^53 (a numeric product_id:
//     12345 is "12345"); other numbers are dropped.
//   - Every other value failing the schema is dropped: an object member is
//     deleted, an array element removed (a products entry that is not an
//     object).
//
// The common case costs nothing more: the fast validator accepts the
// properties and conformEvent returns. Only failing values take the
// reference validator, whose errors locate them.

// maxConformRounds bounds the validate-and-fix rounds: coercing, then
// dropping what the coerced value still fails. A third round finds
// nothing more to fix; the bound only guards against a schema that could
// never be met (conformEvent then leaves the rest as it is).
const maxConformRounds = 3

// conformEvent coerces or drops the values of props, the properties of the
// event called name, that fail the event's schema. It changes props in
// place; props nil, or an event with no schema, are left alone.
func (d *Decoder) conformEvent(name string, props map[string]any) {
	s := d.events[name]
	if s == nil || props == nil {
		return
	}
	for range maxConformRounds {
		err := s.validate(props)
		if err == nil {
			return
		}
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) || !fixLeaves(props, ve) {
			return
		}
	}
}

// removed marks an array element to remove, once every leaf is fixed, so
// the indexes of the other leaves stay true meanwhile.
type removedMark struct{}

var removed any = &removedMark{}

// fixLeaves applies the fix of every leaf failure of ve to props, and
// reports whether it changed anything.
func fixLeaves(props map[string]any, ve *jsonschema.ValidationError) bool {
	changed, marked := false, false
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if len(e.InstanceLocation) == 0 {
			return // the properties themselves: the envelope's business
		}
		c, m := fix(props, e.InstanceLocation, e.ErrorKind)
		changed, marked = changed || c, marked || m
	}
	walk(ve)
	if marked {
		compact(props)
	}
	return changed
}

// fix coerces or drops the value at loc, which failed with k. It returns
// whether it changed anything and whether it marked an array element.
func fix(props map[string]any, loc []string, k jsonschema.ErrorKind) (changed, marked bool) {
	var parent any = props
	for _, tok := range loc[:len(loc)-1] {
		if parent = child(parent, tok); parent == nil {
			return false, false // already dropped, with what held it
		}
	}
	last := loc[len(loc)-1]
	v, present := elem(parent, last)
	if !present || v == removed {
		return false, false
	}
	nv, keep := coerce(v, k)
	switch p := parent.(type) {
	case map[string]any:
		if keep {
			p[last] = nv
		} else {
			delete(p, last)
		}
		return true, false
	case []any:
		i, _ := strconv.Atoi(last)
		if keep {
			p[i] = nv
			return true, false
		}
		p[i] = removed
		return true, true
	}
	return false, false
}

// elem returns the member or element tok of v, and whether it is there
// (a null is).
func elem(v any, tok string) (any, bool) {
	switch c := v.(type) {
	case map[string]any:
		x, ok := c[tok]
		return x, ok
	case []any:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(c) {
			return nil, false
		}
		return c[i], true
	}
	return nil, false
}

// child returns the member or element tok of v, or nil.
func child(v any, tok string) any {
	x, _ := elem(v, tok)
	return x
}

// coerce returns v as the type a Type failure k wants, and true, when
// Segment's tools would read it so; false means drop v.
func coerce(v any, k jsonschema.ErrorKind) (any, bool) {
	t, ok := k.(*kind.Type)
	if !ok {
		return nil, false
	}
	switch x := v.(type) {
	case string:
		if (slices.Contains(t.Want, "number") || slices.Contains(t.Want, "integer")) && isJSONNumber(x) {
			if f, err := strconv.ParseFloat(x, 64); err == nil && !math.IsInf(f, 0) {
				return f, true
			}
		}
	case float64:
		if slices.Contains(t.Want, "string") && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatFloat(x, 'f', -1, 64), true
		}
	}
	return nil, false
}

// isJSONNumber reports whether s is a JSON number literal: an optional
// minus, digits without a leading zero, an optional fraction and exponent.
// Not "0x10", "1_000", "Inf", " 1" or "+1", which ParseFloat would take.
func isJSONNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i, n = i+1, n+1
		}
		return n
	}
	switch n := digits(); {
	case n == 0, n > 1 && s[0] == '0':
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// compact removes the marked elements from every array under v.
func compact(v any) any {
	switch c := v.(type) {
	case map[string]any:
		for k, x := range c {
			if y := compact(x); !sameArray(x, y) {
				c[k] = y
			}
		}
	case []any:
		out := c[:0]
		for _, x := range c {
			if x == removed {
				continue
			}
			out = append(out, compact(x))
		}
		clear(c[len(out):])
		return out
	}
	return v
}

// sameArray reports whether y is x, an array, unchanged in length.
func sameArray(x, y any) bool {
	a, ok := x.([]any)
	if !ok {
		return true
	}
	return len(a) == len(y.([]any))
}
