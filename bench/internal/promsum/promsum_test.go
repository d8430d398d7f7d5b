package promsum

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total"}, []string{"p"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds"})
	reg.MustRegister(c, h)
	c.WithLabelValues("0").Add(2)
	c.WithLabelValues("1").Add(3)
	h.Observe(0.5)
	h.Observe(1.5)
	for name, want := range map[string]float64{"c_total": 5, "h_seconds_count": 2, "h_seconds_sum": 2, "missing": 0} {
		if got, err := Sum(reg, name); err != nil || got != want {
			t.Errorf("Sum(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "age_seconds", Buckets: []float64{1, 2, 4}}, []string{"stage"})
	reg.MustRegister(h)
	h.WithLabelValues("a").Observe(0.5)
	before, err := Histogram(reg, "age_seconds", map[string]string{"stage": "a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{1.5, 1.5, 3, 3} {
		h.WithLabelValues("a").Observe(v)
	}
	h.WithLabelValues("b").Observe(100)
	after, err := Histogram(reg, "age_seconds", map[string]string{"stage": "a"})
	if err != nil {
		t.Fatal(err)
	}
	d := after.Since(before)
	if d.Count != 4 || d.Sum != 9 {
		t.Fatalf("count %d sum %v, want 4 and 9", d.Count, d.Sum)
	}
	// Two of four in (1, 2], two in (2, 4]: the median is the top of
	// (1, 2]; 0.75 is halfway through (2, 4].
	if q := d.Quantile(0.5); q != 2 {
		t.Errorf("p50 %v, want 2", q)
	}
	if q := d.Quantile(0.75); q != 3 {
		t.Errorf("p75 %v, want 3", q)
	}
	if all, _ := Histogram(reg, "age_seconds", nil); all.Count != 6 || all.Quantile(0.99) != 4 {
		t.Errorf("every series: count %d, p99 %v; want 6 and 4 (the +Inf bucket reads as the highest bound)", all.Count, all.Quantile(0.99))
	}
}
