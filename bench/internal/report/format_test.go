package report

import "testing"

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{Int(0), "0"},
		{Int(999), "999"},
		{Int(1000), "1,000"},
		{Int(1234567), "1,234,567"},
		{Int(-1234567), "-1,234,567"},
		{Num(999.5), "1,000"},
		{Num(123456.4), "123,456"},
		{Num(-1000), "-1,000"},
		{Num(0.2), "0"},
		{Ratios(nil), ""},
		{Ratios([]float64{0.934, 1.016}), "0.93, 1.02"},
		{Dash(""), "–"},
		{Dash("4.0.0"), "4.0.0"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
