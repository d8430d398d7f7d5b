package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/journey-dev/journey/bench/internal/procstat"
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
	return cpuWatch{at: time.Now(), self: procstat.SelfCPU().Seconds(), busy: busyCPU(), svc: procstat.PIDsCPU(services), pids: services}
}

// cores splits the window's busy time; proc is the CPU seconds the
// measured process spent in it.
func (w cpuWatch) cores(proc float64) cores {
	wall := time.Since(w.at).Seconds()
	c := cores{Process: proc / wall, Services: (procstat.PIDsCPU(w.pids) - w.svc) / wall}
	c.Other = max(0, (busyCPU()-w.busy)/wall-c.Process-c.Services)
	return c
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

// busyCPU is procstat.MachineBusy, 0 when /proc/stat cannot be read.
func busyCPU() float64 {
	busy, _ := procstat.MachineBusy()
	return busy
}
