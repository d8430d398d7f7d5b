package pipeline

import (
	"testing"
	"time"
)

func TestStatusReady(t *testing.T) {
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	const after = 2 * time.Minute
	ready := PartitionStatus{State: StateReady, Progress: now.Add(-time.Hour)}
	for _, tc := range []struct {
		name   string
		joined bool
		parts  map[int]PartitionStatus
		reason string
	}{
		{"caught up, quiet for an hour", true, map[int]PartitionStatus{0: ready}, ""},
		{"not joined", false, nil, "not a member of the consumer group yet"},
		{"behind, progressing", true, map[int]PartitionStatus{
			3: {State: StateReady, Lag: 1200, Progress: now.Add(-after)},
		}, ""},
		{"behind, no progress", true, map[int]PartitionStatus{
			0: ready,
			3: {State: StateReady, Lag: 1200, Progress: now.Add(-after - 5*time.Second)},
		}, "partition 3 stalled: no progress for 2m5s with lag 1200"},
		{"restoring", true, map[int]PartitionStatus{
			1: {State: StateRestoring, Restored: 10, Remaining: 90},
		}, "partition 1 restoring: 10 changelog records applied, 90 left"},
		{"failed, named before a later stalled one", true, map[int]PartitionStatus{
			2: {State: StateFailed, Error: "state: write failed"},
			5: {State: StateReady, Lag: 1, Progress: now.Add(-time.Hour)},
		}, "partition 2 failed: state: write failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := status(tc.joined, tc.parts, nil, now, after)
			if s.Reason != tc.reason || s.Ready() != (tc.reason == "") {
				t.Errorf("Ready() = %v, Reason %q; want reason %q", s.Ready(), s.Reason, tc.reason)
			}
		})
	}
}
