package procstat

import (
	"os"
	"runtime"
	"testing"
)

func TestReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux's /proc")
	}
	if c := ProcessCPU(os.Getpid()); c < 0 {
		t.Errorf("ProcessCPU(self) = %v", c)
	}
	if c := ProcessCPU(-1); c != -1 {
		t.Errorf("ProcessCPU(-1) = %v, want -1", c)
	}
	if got := PIDsCPU([]int{-1}); got != 0 {
		t.Errorf("PIDsCPU of no readable process = %v, want 0", got)
	}
	if busy, ok := MachineBusy(); !ok || busy <= 0 {
		t.Errorf("MachineBusy = %v, %v", busy, ok)
	}
	if SelfCPU() <= 0 {
		t.Error("SelfCPU is 0")
	}
}
