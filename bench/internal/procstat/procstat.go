// Package procstat reads the CPU time of processes and of the whole
// machine from Linux's /proc, for the benchmarks' "cores busy" figures:
// the process measured, the rig's Kafka and Redis, and everything else.
// Off Linux every reading fails.
package procstat

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is USER_HZ, the unit of /proc's CPU times.
const userHZ = 100

// SelfCPU returns the user + system CPU time of this process so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU returns the user + system CPU seconds of process pid and its
// threads so far (/proc/<pid>/stat), or -1 when it cannot be read.
func ProcessCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (utime + stime) / userHZ
}

// PIDsCPU returns the CPU seconds of the processes that can be read,
// added up.
func PIDsCPU(pids []int) float64 {
	var sum float64
	for _, pid := range pids {
		if c := ProcessCPU(pid); c > 0 {
			sum += c
		}
	}
	return sum
}

// MachineBusy returns the CPU seconds all cores spent neither idle nor
// waiting for I/O so far (the first line of /proc/stat: user, nice,
// system, irq, softirq and steal; guest time is inside user time).
func MachineBusy() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy float64
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false
		}
		busy += v
	}
	return busy / userHZ, true
}
