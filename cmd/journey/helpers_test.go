package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// journeyBinary builds the journey binary once per test run.
func journeyBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "journey-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "journey")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// rigEnv is one test's slice of the rig: its own topic, group, Redis
// prefix and state dir.
type rigEnv struct {
	brokers []string
	redis   string
	topic   string
	dlq     string
	group   string
	prefix  string
	dir     string
	parts   int
	rdb     *redis.Client
}

func newRigEnv(t *testing.T, partitions int) *rigEnv {
	t.Helper()
	brokers := testrig.KafkaBrokers(t)
	addr := testrig.RedisAddr(t)
	id := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	e := &rigEnv{
		brokers: brokers, redis: addr, topic: id, dlq: id + ".dlq", group: id + "-g",
		prefix: "jt:" + id + ":", dir: t.TempDir(), parts: partitions,
		rdb: redis.NewClient(&redis.Options{Addr: addr}),
	}
	t.Cleanup(func() { _ = e.rdb.Close() })
	testrig.CreateTopic(t, brokers, e.topic, partitions)
	return e
}

// config writes a journey YAML config for this env plus extra YAML.
func (e *rigEnv) config(t *testing.T, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: %s
  topics: [%s]
  dlq_topic: %s
  session_timeout: 6s
batch:
  commit_interval: 100ms
state:
  dir: %s
redis:
  addr: %s
  prefix: "%s"
admin:
  addr: 127.0.0.1:0
log:
  level: info
%s`, strings.Join(e.brokers, ","), e.group, e.topic, e.dlq, filepath.Join(e.dir, "state"), e.redis, e.prefix, extra)
	path := filepath.Join(e.dir, "journey.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// child is a `journey run` process.
type child struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
	mu   *sync.Mutex
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startChildBin(t, journeyBinary(t), args...)
}

// startChildBin starts the binary bin (journeyBinary, or another build of
// it) as a child.
func startChildBin(t *testing.T, bin string, args ...string) *child {
	t.Helper()
	c := &child{log: &bytes.Buffer{}, done: make(chan struct{}), mu: &sync.Mutex{}}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout = lockedBuffer{c.mu, c.log}
	c.cmd.Stderr = lockedBuffer{c.mu, c.log}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("journey output (tail):\n%s", c.tail(40))
		}
	})
	return c
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// stop sends SIGTERM and returns the exit code.
func (c *child) stop(t *testing.T, within time.Duration) int {
	t.Helper()
	return c.signal(t, syscall.SIGTERM, within)
}

// signal sends sig and returns the exit code, failing t if the process
// does not exit within the given time.
func (c *child) signal(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	_ = c.cmd.Process.Signal(sig)
	within = testrig.Within(within)
	select {
	case <-c.done:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("journey did not exit within %v of %v; its goroutines:\n%s", within, sig, c.stacks())
		return -1
	}
}

// stacks makes a hung child print every goroutine's stack (SIGQUIT) and
// returns the end of its output, for the failure message.
func (c *child) stacks() string {
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
	}
	return c.tail(600)
}

func (c *child) tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := strings.Split(strings.TrimRight(c.log.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// kcatProduce produces lines ("key|value") with Debian's kcat, an
// independent client, with the given headers on every message.
func kcatProduce(t *testing.T, brokers []string, topic string, headers []string, lines ...string) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat not found (make test installs it)")
		}
		t.Skip("kcat not found: run make test")
	}
	args := []string{"-b", strings.Join(brokers, ","), "-t", topic, "-P", "-K", "|", "-X", "partitioner=murmur2_random"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

func readFileBytes(path string) ([]byte, error) { return os.ReadFile(path) }

var adminRe = regexp.MustCompile(`"msg":"admin listening","addr":"([^"]+)"`)

// waitReady polls the child's /readyz (its admin address is read from its
// log) until it answers 200.
func (c *child) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	testrig.CheckFor(t, within, 50*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey exited before it was ready:\n%s", c.tail(30))
		default:
		}
		m := adminRe.FindStringSubmatch(c.output())
		if m == nil {
			return errors.New("admin address not logged yet")
		}
		resp, err := http.Get("http://" + m[1] + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	})
}
