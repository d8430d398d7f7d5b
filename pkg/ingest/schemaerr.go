package ingest

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// schemaError turns a validation error into a schema_violation whose Msg
// names what failed (what), where (a JSON pointer, prefixed by at) and the
// schema keyword, with detail taken from the schema only: never the value
// that failed, which may be personal data.
//
// Of several failures it reports the first by pointer then keyword, so the
// message is stable, and counts the others.
func schemaError(what, at string, err error) *Error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return errorf(ReasonSchema, "%s: invalid", what)
	}
	var leaves []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)

	best, bestKey := "", ""
	for _, l := range leaves {
		ptr := at + pointer(l.InstanceLocation)
		if ptr == "" {
			ptr = "/"
		}
		msg := ptr + ": " + keyword(l.ErrorKind)
		if key := ptr + "\x00" + msg; best == "" || key < bestKey {
			best, bestKey = msg, key
		}
	}
	if n := len(leaves) - 1; n > 0 {
		return errorf(ReasonSchema, "%s: %s (and %d more)", what, best, n)
	}
	return errorf(ReasonSchema, "%s: %s", what, best)
}

// pointer renders an instance location as a JSON pointer, each token passed
// through safeToken.
func pointer(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		b.WriteString(safeToken(tok))
	}
	return b.String()
}

// safeToken returns a pointer token as it is when it looks like a field
// name or an index, and "*" otherwise: object keys are chosen by the
// producer and, in free-form maps, could be an email address or a name.
func safeToken(tok string) string {
	if tok == "" || len(tok) > 64 {
		return "*"
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '$') {
			return "*"
		}
	}
	return tok
}

// keyword describes a failed schema keyword with what the schema wanted.
// Got values are left out on purpose.
func keyword(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Required:
		return "required " + strings.Join(k.Missing, ", ")
	case *kind.Type:
		return "type: want " + strings.Join(k.Want, " or ") + ", got " + k.Got
	case *kind.Const:
		return fmt.Sprintf("const: want %v", jsonText(k.Want))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = jsonText(w)
		}
		return "enum: want one of " + strings.Join(want, ", ")
	case *kind.Minimum:
		return "minimum " + ratText(k.Want)
	case *kind.Maximum:
		return "maximum " + ratText(k.Want)
	case *kind.ExclusiveMinimum:
		return "exclusiveMinimum " + ratText(k.Want)
	case *kind.ExclusiveMaximum:
		return "exclusiveMaximum " + ratText(k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("minLength %d", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("maxLength %d", k.Want)
	case *kind.Pattern:
		return "pattern"
	case *kind.Format:
		return "format " + k.Want
	case *kind.Not:
		return "not"
	case *kind.FalseSchema:
		return "false schema"
	case *kind.AdditionalProperties:
		return "additionalProperties"
	case *kind.PropertyNames:
		return "propertyNames"
	}
	if p := k.KeywordPath(); len(p) > 0 {
		return p[len(p)-1]
	}
	return "invalid"
}

// ratText renders a schema bound: 5, 0.5.
func ratText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// jsonText renders a schema constant (never an instance value).
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return `"` + s + `"`
	}
	return fmt.Sprint(v)
}
