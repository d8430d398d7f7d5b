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
