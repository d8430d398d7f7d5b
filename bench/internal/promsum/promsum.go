// Package promsum reads totals from a Prometheus registry, for the
// benchmarks that run journey in process or beside it.
package promsum

import (
	"fmt"
	"math"
	"slices"
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

// Buckets is a histogram's cumulative bucket counts, summed over the
// series whose labels include the wanted ones.
type Buckets struct {
	Bounds []float64 // upper bounds, ascending; +Inf last
	Counts []uint64  // cumulative
	Sum    float64
	Count  uint64
}

// ByLabel sums a counter's series by the value of one label.
func ByLabel(reg prometheus.Gatherer, name, label string) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out[lp.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out, nil
}

// Histogram reads the histogram name's buckets over the series whose
// labels include want.
func Histogram(reg prometheus.Gatherer, name string, want map[string]string) (Buckets, error) {
	var b Buckets
	mfs, err := reg.Gather()
	if err != nil {
		return b, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			for k, v := range want {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == k && lp.GetValue() == v
				}
				if !found {
					continue series
				}
			}
			if b.Bounds == nil {
				for _, bk := range h.GetBucket() {
					b.Bounds = append(b.Bounds, bk.GetUpperBound())
				}
				b.Bounds = append(b.Bounds, math.Inf(1))
				b.Counts = make([]uint64, len(b.Bounds))
			}
			if len(h.GetBucket())+1 != len(b.Bounds) {
				return b, fmt.Errorf("%s: series with different buckets", name)
			}
			for i, bk := range h.GetBucket() {
				b.Counts[i] += bk.GetCumulativeCount()
			}
			b.Counts[len(b.Counts)-1] += h.GetSampleCount()
			b.Sum += h.GetSampleSum()
			b.Count += h.GetSampleCount()
		}
	}
	return b, nil
}

// Since is what b observed after earlier (a snapshot of the same
// histogram).
func (b Buckets) Since(earlier Buckets) Buckets {
	out := Buckets{Bounds: b.Bounds, Counts: slices.Clone(b.Counts), Sum: b.Sum - earlier.Sum, Count: b.Count - earlier.Count}
	if len(earlier.Counts) == len(out.Counts) {
		for i := range out.Counts {
			out.Counts[i] -= earlier.Counts[i]
		}
	}
	return out
}

// Quantile estimates the q-quantile (0 < q < 1) as Prometheus's
// histogram_quantile does: linear within the bucket it falls in. NaN
// without observations; the highest finite bound when it falls in +Inf.
func (b Buckets) Quantile(q float64) float64 {
	if b.Count == 0 || len(b.Bounds) < 2 {
		return math.NaN()
	}
	rank := q * float64(b.Count)
	lower, below := 0.0, uint64(0)
	for i, c := range b.Counts {
		if float64(c) >= rank {
			if math.IsInf(b.Bounds[i], 1) {
				return b.Bounds[i-1]
			}
			if c == below {
				return b.Bounds[i]
			}
			return lower + (b.Bounds[i]-lower)*(rank-float64(below))/float64(c-below)
		}
		lower, below = b.Bounds[i], c
	}
	return b.Bounds[len(b.Bounds)-2]
}
