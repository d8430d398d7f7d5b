package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Int formats n with thousands separators: 1,234,567.
func Int(n int) string { return group(strconv.Itoa(n)) }

// Num formats x rounded to a whole number, with thousands separators.
func Num(x float64) string { return group(fmt.Sprintf("%.0f", x)) }

// group puts a comma between each group of three digits of the decimal
// integer s.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Dash returns s, or an en dash when s is empty (a table cell with no
// figure).
func Dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// Ratios formats xs with two decimals, comma-separated: "0.93, 1.02".
func Ratios(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, ", ")
}
