package wire

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " back \ slash`, "<a href='x'>&amp;</a>", "tab\tnl\ncr\rbs\bff\f",
		"\x00\x01\x1f\x7f", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate"}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\<>&\x00\x1f\t\n\xe2\x80\xa8\xa9\xff\xc3\xa9")
	for range 2000 {
		n := rng.IntN(12)
		s := make([]byte, n)
		for i := range s {
			s[i] = alphabet[rng.IntN(len(alphabet))]
		}
		strs = append(strs, string(s))
	}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("string %q: got %s, want %s", s, got, want)
		}
	}
	for _, ss := range [][]string{nil, {}, {"a"}, {"a", "<b>"}} {
		want, _ := json.Marshal(ss)
		if got := AppendJSONStrings(nil, ss); string(got) != string(want) {
			t.Fatalf("strings %q: got %s, want %s", ss, got, want)
		}
	}
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 12.5, 1e-6, 9.99e-7, 1e-7, 123456789, 1e20, 1e21, 1.5e300, -2.5e-300,
		math.MaxFloat64, math.SmallestNonzeroFloat64}
	for range 2000 {
		floats = append(floats, math.Float64frombits(rng.Uint64()))
	}
	for _, f := range floats {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		want, _ := json.Marshal(f)
		if got := AppendJSONFloat(nil, f); string(got) != string(want) {
			t.Fatalf("float %v: got %s, want %s", f, got, want)
		}
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	times := []time.Time{time.Unix(0, 0).UTC(), time.Date(2026, 11, 23, 16, 4, 5, 120000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6, paris), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), {}}
	for range 500 {
		times = append(times, time.Unix(rng.Int64N(250000000000), rng.Int64N(1e9)).UTC())
	}
	for _, tm := range times {
		want, _ := json.Marshal(tm)
		if got := AppendJSONTime(nil, tm); string(got) != string(want) {
			t.Fatalf("time %v: got %s, want %s", tm, got, want)
		}
	}
}
