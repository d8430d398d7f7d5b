// Package promsum reads totals from a Prometheus registry, for the
// benchmarks that run journey in process or beside it.
package promsum

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Sum adds up every series of a counter or gauge, or the count or sum of a
// histogram (name_count, name_sum).
func Sum(reg prometheus.Gatherer, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	base, part := name, ""
	if b, ok := strings.CutSuffix(name, "_count"); ok {
		base, part = b, "count"
	} else if b, ok := strings.CutSuffix(name, "_sum"); ok {
		base, part = b, "sum"
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != base {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch c, g, h := m.GetCounter(), m.GetGauge(), m.GetHistogram(); {
			case c != nil:
				sum += c.GetValue()
			case g != nil:
				sum += g.GetValue()
			case h != nil && part == "count":
				sum += float64(h.GetSampleCount())
			case h != nil && part == "sum":
				sum += h.GetSampleSum()
			}
		}
	}
	return sum, nil
}
