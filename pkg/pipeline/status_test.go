package pipeline

import (
	"errors"
	"fmt"
	"testing"

	"github.com/journey-dev/journey/pkg/sink"
)

// A failed delivery makes the partition (so /readyz) not ready, with the
// reason, until a delivery succeeds; a partition not assigned stays absent.
func TestDeliveryStatus(t *testing.T) {
	p := &Pipeline{joined: true, partitions: map[int]PartitionStatus{0: {State: StateReady}}}
	obs := deliveryStatus{p}
	if !p.Status().Ready() {
		t.Fatal("not ready before any failure")
	}
	obs.DeliveryFailed(0, fmt.Errorf("x: %w", &sink.Failure{Reason: "noperm", Err: errors.New("NOPERM")}))
	obs.DeliveryFailed(7, errors.New("revoked meanwhile"))
	st := p.Status()
	if st.Ready() || st.Partitions[0].Delivery != "delivery failing: noperm" {
		t.Fatalf("after a failure: ready %v, %+v", st.Ready(), st.Partitions)
	}
	if _, ok := st.Partitions[7]; ok {
		t.Fatal("a report for an unassigned partition added it")
	}
	obs.Delivered(0, 1, 0, nil)
	if st := p.Status(); !st.Ready() || st.Partitions[0].Delivery != "" {
		t.Fatalf("after a success: ready %v, %+v", st.Ready(), st.Partitions)
	}
}
