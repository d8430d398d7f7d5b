package ingest

import (
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// This file holds the decoder's schema check. santhosh-tekuri/jsonschema
// compiles the schemas and remains the reference: it explains every
// failure, and decides whenever the check here is not sure. But its
// validator allocates for every value it visits and compares numbers
// through math/big: too costly to run on every valid event.
//
// fastSchema is a compiled jsonschema.Schema reduced to the keywords
// journey's schemas use, checked with no allocation. Only when it finds a
// value invalid (or meets a Go type the parser never gives) does the
// reference validator run, to explain the failure, and its verdict stands.
// A schema using a keyword not handled here is not reduced at all, so
// adding one to a schema file costs speed, never correctness.
// FuzzValidate checks both validators agree.

// validator checks values against one schema.
type validator struct {
	ref  *jsonschema.Schema
	fast *fastSchema // nil: always use ref
}

// validate returns nil when v is valid, else the reference validator's
// error. When the two disagree, the reference wins.
func (s *validator) validate(v any) error {
	if s.fast != nil {
		unsure := false
		if s.fast.valid(v, &unsure) && !unsure {
			return nil
		}
	}
	return s.ref.Validate(v)
}

// JSON types as a set.
type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBoolean
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeNames = map[string]typeSet{
	"null": tNull, "boolean": tBoolean, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

type fastSchema struct {
	boolean *bool
	types   typeSet // 0: any
	enum    []any   // strings, booleans and nulls only
	consts  bool
	cnst    any

	ref, not           *fastSchema
	allOf, anyOf       []*fastSchema
	oneOf              []*fastSchema
	ifS, thenS, elseS  *fastSchema
	required           []string
	props              []fastProp
	addl               *fastSchema // checks properties not in props; nil: any
	addlFalse          bool
	minProps, maxProps int // -1: none
	items              *fastSchema
	minItems, maxItems int
	minLen, maxLen     int
	pattern            jsonschema.Regexp
	bounds             []bound
}

type fastProp struct {
	name   string
	schema *fastSchema
}

type boundKind uint8

const (
	minimum boundKind = iota
	maximum
	exclusiveMinimum
	exclusiveMaximum
)

type bound struct {
	kind boundKind
	v    float64
}

// reducer reduces compiled schemas to fastSchemas.
type reducer struct {
	done map[*jsonschema.Schema]*fastSchema
	// keys collects every property name the schemas mention.
	keys map[string]string
}

// reduce returns s reduced, or false when s uses a keyword fastSchema does
// not handle or refers to itself without descending into the value.
func (r *reducer) reduce(s *jsonschema.Schema) (*fastSchema, bool) {
	// A fresh memo per root: a schema that fails leaves nothing half-built
	// behind for the next root to pick up.
	r.done = map[*jsonschema.Schema]*fastSchema{}
	f, ok := r.reduceOne(s)
	if !ok || loops(f) {
		return nil, false
	}
	return f, true
}

func (r *reducer) reduceOne(s *jsonschema.Schema) (*fastSchema, bool) {
	if s == nil {
		return nil, true
	}
	if f, ok := r.done[s]; ok {
		return f, f != nil
	}
	if !reducible(s) {
		r.done[s] = nil
		return nil, false
	}
	f := &fastSchema{boolean: s.Bool, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1, minLen: -1, maxLen: -1}
	r.done[s] = f // before the children: schemas may refer to each other
	ok := true
	sub := func(c *jsonschema.Schema) *fastSchema {
		fc, cok := r.reduceOne(c)
		ok = ok && cok
		return fc
	}
	subs := func(cs []*jsonschema.Schema) []*fastSchema {
		out := make([]*fastSchema, len(cs))
		for i, c := range cs {
			out[i] = sub(c)
		}
		return out
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			f.types |= typeNames[t]
		}
	}
	if s.Enum != nil {
		for _, v := range s.Enum.Values {
			ok = ok && scalar(v)
		}
		f.enum = s.Enum.Values
	}
	if s.Const != nil {
		ok = ok && scalar(*s.Const)
		f.consts, f.cnst = true, *s.Const
	}
	f.ref, f.not = sub(s.Ref), sub(s.Not)
	f.allOf, f.anyOf, f.oneOf = subs(s.AllOf), subs(s.AnyOf), subs(s.OneOf)
	f.ifS, f.thenS, f.elseS = sub(s.If), sub(s.Then), sub(s.Else)
	f.required = s.Required
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		f.props = append(f.props, fastProp{name, sub(s.Properties[name])})
		r.keys[name] = name
	}
	for _, name := range s.Required {
		r.keys[name] = name
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		f.addlFalse = !a
	case *jsonschema.Schema:
		f.addl = sub(a)
	}
	f.minProps, f.maxProps = intOr(s.MinProperties), intOr(s.MaxProperties)
	f.items = sub(s.Items2020)
	f.minItems, f.maxItems = intOr(s.MinItems), intOr(s.MaxItems)
	f.minLen, f.maxLen = intOr(s.MinLength), intOr(s.MaxLength)
	f.pattern = s.Pattern
	bounds, bok := reduceBounds(s)
	f.bounds, ok = bounds, ok && bok
	if !ok {
		r.done[s] = nil
		return nil, false
	}
	return f, true
}

// reducible reports whether s uses only keywords fastSchema handles.
func reducible(s *jsonschema.Schema) bool {
	return s.DraftVersion >= 2019 && s.RecursiveRef == nil && s.DynamicRef == nil && s.Format == nil &&
		s.PropertyNames == nil && len(s.PatternProperties) == 0 && len(s.Dependencies) == 0 &&
		len(s.DependentRequired) == 0 && len(s.DependentSchemas) == 0 && s.UnevaluatedProperties == nil &&
		s.UnevaluatedItems == nil && s.Contains == nil && s.MinContains == nil && s.MaxContains == nil &&
		s.Items == nil && s.AdditionalItems == nil && len(s.PrefixItems) == 0 && !s.UniqueItems &&
		s.ContentEncoding == nil && s.ContentMediaType == nil && s.ContentSchema == nil &&
		s.MultipleOf == nil && len(s.Extensions) == 0
}

// reduceBounds returns s's numeric bounds, false when one is not a float64
// that compares as the reference validator does (exactBound).
func reduceBounds(s *jsonschema.Schema) ([]bound, bool) {
	var bounds []bound
	for _, b := range []struct {
		kind boundKind
		rat  *big.Rat
	}{{minimum, s.Minimum}, {maximum, s.Maximum}, {exclusiveMinimum, s.ExclusiveMinimum}, {exclusiveMaximum, s.ExclusiveMaximum}} {
		if b.rat == nil {
			continue
		}
		v, ok := exactBound(b.rat)
		if !ok {
			return nil, false
		}
		bounds = append(bounds, bound{b.kind, v})
	}
	return bounds, true
}

func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// scalar reports whether v is an enum or const value fastSchema compares:
// a string, a boolean or null.
func scalar(v any) bool {
	switch v.(type) {
	case string, bool, nil:
		return true
	}
	return false
}

// exactBound returns a numeric bound as a float64 when comparing a float64
// with it gives the reference validator's answer: the reference compares
// the shortest decimal form of the value, so the bound must be a float64
// whose shortest decimal form is the bound itself.
func exactBound(r *big.Rat) (float64, bool) {
	f, exact := r.Float64()
	if !exact || math.IsInf(f, 0) {
		return 0, false
	}
	back, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return f, ok && back.Cmp(r) == 0
}

// loops reports whether a schema reachable from root can reach itself
// through keywords that check the same value ($ref, allOf, not...), which
// would recurse forever. The reference validator reports such a cycle as
// an error. Cycles through properties or items descend into the value and
// are fine.
func loops(root *fastSchema) bool {
	all := map[*fastSchema]bool{}
	var collect func(*fastSchema)
	collect = func(f *fastSchema) {
		if f == nil || all[f] {
			return
		}
		all[f] = true
		for _, c := range f.sameValue() {
			collect(c)
		}
		for _, c := range f.nested() {
			collect(c)
		}
	}
	collect(root)
	const (
		visiting = 1
		visited  = 2
	)
	state := map[*fastSchema]int{}
	var cycle func(*fastSchema) bool
	cycle = func(f *fastSchema) bool {
		if f == nil {
			return false
		}
		switch state[f] {
		case visiting:
			return true
		case visited:
			return false
		}
		state[f] = visiting
		for _, c := range f.sameValue() {
			if cycle(c) {
				return true
			}
		}
		state[f] = visited
		return false
	}
	for f := range all {
		if cycle(f) {
			return true
		}
	}
	return false
}

func (f *fastSchema) sameValue() []*fastSchema {
	out := []*fastSchema{f.ref, f.not, f.ifS, f.thenS, f.elseS}
	out = append(out, f.allOf...)
	out = append(out, f.anyOf...)
	return append(out, f.oneOf...)
}

func (f *fastSchema) nested() []*fastSchema {
	out := []*fastSchema{f.addl, f.items}
	for _, p := range f.props {
		out = append(out, p.schema)
	}
	return out
}

// valid reports whether v is valid. It sets *unsure when it met a value
// of a type the parser never gives, for which it cannot tell.
func (f *fastSchema) valid(v any, unsure *bool) bool {
	if f.boolean != nil {
		return *f.boolean
	}
	t, known := typeOf(v)
	if !known {
		*unsure = true
		return false
	}
	if f.types != 0 && f.types&t == 0 {
		return false
	}
	if f.enum != nil && !slices.ContainsFunc(f.enum, func(e any) bool { return scalarEqual(e, v) }) {
		return false
	}
	if f.consts && !scalarEqual(f.cnst, v) {
		return false
	}
	return f.validByType(v, unsure) && f.validApplied(v, unsure)
}

// typeOf returns the JSON types of a value the parser gives; false for
// any other Go type, and for a float64 JSON cannot hold.
func typeOf(v any) (typeSet, bool) {
	switch x := v.(type) {
	case nil:
		return tNull, true
	case bool:
		return tBoolean, true
	case string:
		return tString, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false
		}
		if x == math.Trunc(x) {
			return tNumber | tInteger, true
		}
		return tNumber, true
	case []any:
		return tArray, true
	case map[string]any:
		return tObject, true
	}
	return 0, false
}

// validByType checks the keywords that apply to v's own type.
func (f *fastSchema) validByType(v any, unsure *bool) bool {
	switch x := v.(type) {
	case map[string]any:
		return f.validObject(x, unsure)
	case []any:
		return f.validArray(x, unsure)
	case string:
		return f.validString(x)
	case float64:
		return f.inBounds(x)
	}
	return true
}

func (f *fastSchema) validArray(a []any, unsure *bool) bool {
	if f.minItems >= 0 && len(a) < f.minItems || f.maxItems >= 0 && len(a) > f.maxItems {
		return false
	}
	if f.items != nil {
		for _, e := range a {
			if !f.items.valid(e, unsure) {
				return false
			}
		}
	}
	return true
}

func (f *fastSchema) validString(s string) bool {
	if f.minLen >= 0 || f.maxLen >= 0 {
		n := utf8.RuneCountInString(s)
		if f.minLen >= 0 && n < f.minLen || f.maxLen >= 0 && n > f.maxLen {
			return false
		}
	}
	return f.pattern == nil || f.pattern.MatchString(s)
}

func (f *fastSchema) inBounds(x float64) bool {
	for _, b := range f.bounds {
		var in bool
		switch b.kind {
		case minimum:
			in = x >= b.v
		case maximum:
			in = x <= b.v
		case exclusiveMinimum:
			in = x > b.v
		case exclusiveMaximum:
			in = x < b.v
		}
		if !in {
			return false
		}
	}
	return true
}

// validApplied checks the keywords that apply other schemas to v itself:
// $ref, not, allOf, anyOf, oneOf, if/then/else.
func (f *fastSchema) validApplied(v any, unsure *bool) bool {
	if f.ref != nil && !f.ref.valid(v, unsure) {
		return false
	}
	if f.not != nil && f.not.valid(v, unsure) {
		return false
	}
	for _, s := range f.allOf {
		if !s.valid(v, unsure) {
			return false
		}
	}
	if len(f.anyOf) > 0 && !slices.ContainsFunc(f.anyOf, func(s *fastSchema) bool { return s.valid(v, unsure) }) {
		return false
	}
	if len(f.oneOf) > 0 {
		n := 0
		for _, s := range f.oneOf {
			if s.valid(v, unsure) {
				n++
			}
		}
		if n != 1 {
			return false
		}
	}
	if f.ifS == nil {
		return true
	}
	if f.ifS.valid(v, unsure) {
		return f.thenS == nil || f.thenS.valid(v, unsure)
	}
	return f.elseS == nil || f.elseS.valid(v, unsure)
}

func (f *fastSchema) validObject(m map[string]any, unsure *bool) bool {
	if f.minProps >= 0 && len(m) < f.minProps || f.maxProps >= 0 && len(m) > f.maxProps {
		return false
	}
	for _, name := range f.required {
		if _, ok := m[name]; !ok {
			return false
		}
	}
	if f.addl == nil && !f.addlFalse && len(f.props) <= len(m) {
		for _, p := range f.props {
			if v, ok := m[p.name]; ok && !p.schema.valid(v, unsure) {
				return false
			}
		}
		return true
	}
	// Fewer values than property schemas, or additional properties to
	// check: one pass over the values.
	for k, v := range m {
		i, known := slices.BinarySearchFunc(f.props, k, func(p fastProp, k string) int {
			return cmpString(p.name, k)
		})
		switch {
		case known:
			if !f.props[i].schema.valid(v, unsure) {
				return false
			}
		case f.addlFalse:
			return false
		case f.addl != nil:
			if !f.addl.valid(v, unsure) {
				return false
			}
		}
	}
	return true
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scalarEqual compares a scalar schema value with a value.
func scalarEqual(s, v any) bool {
	switch s := s.(type) {
	case string:
		x, ok := v.(string)
		return ok && x == s
	case bool:
		x, ok := v.(bool)
		return ok && x == s
	case nil:
		return v == nil
	}
	return false
}
