package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/journey-dev/journey/bench/internal/procstat"
)

// child is one implementation under test, running as its own process. It
// reports progress on stdout (bench/peers/progress); its stderr goes to a
// log file.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	marks   chan mark
	exited  chan struct{}
	waitErr error

	mu    sync.Mutex
	stats map[string]float64
}

// mark is a progress line, with the process's CPU time read from /proc as
// the bench received it.
type mark struct {
	n   int64
	at  time.Time // the process's clock when it reached the mark
	cpu float64   // CPU seconds of the process when the bench read the line
	// services and busy are the CPU seconds of the rig's Kafka and Redis,
	// and of the whole machine, at the same moment.
	services, busy float64
	wall           time.Time
}

func startChild(name, bin string, args []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c := &child{name: name, logPath: logPath, marks: make(chan mark, 16), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stderr = logf
	// Its own process group: a Ctrl-C to the bench does not reach it before
	// the bench has stopped it cleanly.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	fmt.Fprintf(logf, "$ %s %s\n", bin, strings.Join(args, " "))
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.line(sc.Text(), logf)
		}
		c.waitErr = c.cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	return c, nil
}

func (c *child) line(l string, log io.Writer) {
	if rest, ok := strings.CutPrefix(l, "mark "); ok {
		cpu := procstat.ProcessCPU(c.cmd.Process.Pid)
		busy, _ := procstat.MachineBusy()
		m := mark{cpu: cpu, services: procstat.PIDsCPU(servicePIDs), busy: busy, wall: time.Now()}
		f := strings.Fields(rest)
		if len(f) == 2 {
			n, err1 := strconv.ParseInt(f[0], 10, 64)
			ns, err2 := strconv.ParseInt(f[1], 10, 64)
			if err1 == nil && err2 == nil {
				m.n, m.at = n, time.Unix(0, ns)
				c.marks <- m
				return
			}
		}
	}
	if rest, ok := strings.CutPrefix(l, "stats "); ok {
		var s map[string]float64
		if json.Unmarshal([]byte(rest), &s) == nil {
			c.mu.Lock()
			c.stats = s
			c.mu.Unlock()
			return
		}
	}
	fmt.Fprintln(log, "stdout:", l)
}

// waitMark waits for the mark n.
func (c *child) waitMark(ctx context.Context, n int64, timeout time.Duration) (mark, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m := <-c.marks:
			if m.n == n {
				return m, nil
			}
		case <-c.exited:
			return mark{}, fmt.Errorf("%s exited (%v) before processing %d records; its log:\n%s", c.name, c.waitErr, n, c.logTail(40))
		case <-t.C:
			return mark{}, fmt.Errorf("%s did not process %d records within %s; its log:\n%s", c.name, n, timeout, c.logTail(40))
		case <-ctx.Done():
			return mark{}, ctx.Err()
		}
	}
}

// stop sends SIGTERM and waits for the process to exit; a JVM ended by
// SIGTERM exits with 143, which counts as a clean stop.
func (c *child) stop(timeout time.Duration) error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
		return fmt.Errorf("%s did not stop within %s after SIGTERM; its log:\n%s", c.name, timeout, c.logTail(40))
	}
	var ee *exec.ExitError
	if c.waitErr != nil && !(errors.As(c.waitErr, &ee) && ee.ExitCode() == 143) {
		return fmt.Errorf("%s: %v; its log:\n%s", c.name, c.waitErr, c.logTail(40))
	}
	return nil
}

// kill ends the process (and what it started) at once.
func (c *child) kill() {
	select {
	case <-c.exited:
	default:
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
}

func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (c *child) statsCopy() map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// ---- /proc

// peakRSS returns VmHWM of a process in bytes, 0 if it cannot be read.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// servicePIDs are the rig's Kafka and Redis: the processes whose working
// directory is under the rig's folder.
var servicePIDs []int

func findServices(rigDir string) []int {
	abs, err := filepath.Abs(rigDir)
	if err != nil {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err == nil && strings.HasPrefix(cwd, abs+string(filepath.Separator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
