package pipeline

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// Java's murmur2, pinned by the Kafka client's own test vectors, and the
// partition Java's default partitioner picks, as kafka-go's
// Murmur2Balancer computes it.
func TestMurmur2MatchesJava(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	b := &kafka.Murmur2Balancer{}
	for _, n := range []int{1, 3, 8, 12} {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		for _, id := range []string{"u-1", "anon-7f3a", "", "customer-000123", "ü"} {
			if got, want := partitionOf(id, n), b.Balance(kafka.Message{Key: []byte(id)}, parts...); got != want && id != "" {
				t.Errorf("partitionOf(%q, %d) = %d, kafka-go's murmur2 balancer says %d", id, n, got, want)
			}
		}
	}
}
