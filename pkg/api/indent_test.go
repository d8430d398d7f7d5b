package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// appendIndented must give json.Indent's bytes for anything encoding/json
// writes: nested and empty objects and arrays, strings holding quotes,
// backslashes, brackets, commas, colons, escapes and non-ASCII.
func TestAppendIndented(t *testing.T) {
	pieces := []string{`"`, `\`, `{`, `}`, `[`, `]`, `,`, `:`, " ", "\n", "\t", "\x01", "<&>", "é", "\u2028", "a", "x:y,z"}
	rnd := rand.New(rand.NewPCG(1, 2))
	var value func(depth int) any
	value = func(depth int) any {
		switch k := rnd.IntN(8); {
		case k == 0 && depth < 5:
			m := map[string]any{}
			for range rnd.IntN(4) {
				m[str(rnd, pieces)] = value(depth + 1)
			}
			return m
		case k == 1 && depth < 5:
			a := []any{}
			for range rnd.IntN(4) {
				a = append(a, value(depth+1))
			}
			return a
		case k == 2:
			return rnd.Float64() * 1e6
		case k == 3:
			return nil
		case k == 4:
			return rnd.IntN(2) == 0
		default:
			return str(rnd, pieces)
		}
	}
	inputs := []any{map[string]any{}, []any{}, map[string]any{"a": []any{}, "b": map[string]any{}, "c": []any{map[string]any{}}}, "", 0}
	for range 3000 {
		inputs = append(inputs, value(0))
	}
	for _, v := range inputs {
		compact, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "", "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndented(nil, compact); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendIndented(%s):\n%s\nwant:\n%s", compact, got, want.Bytes())
		}
	}
}

func str(rnd *rand.Rand, pieces []string) string {
	var b strings.Builder
	for range rnd.IntN(6) {
		b.WriteString(pieces[rnd.IntN(len(pieces))])
	}
	return b.String()
}
