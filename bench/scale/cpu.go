package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cores is the CPU use over a timed window, in cores busy on average: the
// process measured (a journey command, or this bench for the raw read), the
// rig's Kafka and Redis, and everything else on the machine (a high
// "other" means another job shared it and the figure is noisy).
type cores struct {
	Process  float64 `json:"process"`
	Services float64 `json:"kafka_redis"`
	Other    float64 `json:"other"`
}

// cpuWatch is the start of a window.
type cpuWatch struct {
	at   time.Time
	self float64 // this process's CPU seconds
	busy float64 // the machine's busy CPU seconds, all cores
	svc  float64 // the services' CPU seconds
	pids []int
}

func watchCPU(services []int) cpuWatch {
	return cpuWatch{at: time.Now(), self: selfCPU(), busy: machineBusy(), svc: pidsCPU(services), pids: services}
}

// cores splits the window's busy time; proc is the CPU seconds the
// measured process spent in it.
func (w cpuWatch) cores(proc float64) cores {
	wall := time.Since(w.at).Seconds()
	c := cores{Process: proc / wall, Services: (pidsCPU(w.pids) - w.svc) / wall}
	c.Other = max(0, (machineBusy()-w.busy)/wall-c.Process-c.Services)
	return c
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

const clockTicks = 100 // USER_HZ, the unit of /proc's CPU times

// machineBusy is the time all cores spent neither idle nor waiting for I/O
// (the first line of /proc/stat; guest time is inside user time).
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var ticks float64
	for i, f := range strings.Fields(line) {
		if i == 0 || i == 4 || i == 5 || i > 8 { // "cpu", idle, iowait, guest
			continue
		}
		v, _ := strconv.ParseFloat(f, 64)
		ticks += v
	}
	return ticks / clockTicks
}

// pidsCPU is the user + system CPU seconds of the processes so far.
func pidsCPU(pids []int) float64 {
	var ticks float64
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')') // the command may hold spaces
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			s, _ := strconv.ParseFloat(f[12], 64)
			ticks += u + s
		}
	}
	return ticks / clockTicks
}

// rigServices finds the rig's Kafka and Redis by their command lines: the
// redis-server started on REDIS_ADDR, and the kafka.Kafka whose
// server.properties has a listener on KAFKA_BROKERS.
func rigServices(kafkaAddr, redisAddr string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) == 0 {
			continue
		}
		switch {
		case strings.Contains(args[0], "redis-server") && strings.Contains(string(raw), redisAddr): // it retitles itself "redis-server <addr>"
			pids = append(pids, pid)
		case len(args) > 1 && args[len(args)-2] == "kafka.Kafka":
			path := args[len(args)-1]
			if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && !filepath.IsAbs(path) {
				path = filepath.Join(cwd, path) // the JVM's own working directory
			}
			props, err := os.ReadFile(path)
			if err == nil && strings.Contains(string(props), "//"+kafkaAddr) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
