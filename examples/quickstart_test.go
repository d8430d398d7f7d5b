package examples_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestQuickStart runs examples/quickstart.sh — README's quick start, the
// same commands — against the real Kafka and Redis, as a newcomer who ran
// `make up` and `set -a; . .rig/env; set +a` would: the rig's addresses in
// JOURNEY_BROKERS and JOURNEY_REDIS_ADDR, so the script does not start a
// rig of its own. It passes when the script's consumer group received its
// 5 triggers and the script stopped journey behind it.
//
// Names of its own keep it apart from other tests on the shared rig: the
// consumer group (and so the changelog topic), the dead-letter topic, the
// Redis prefix, the state and admin addresses, through the JOURNEY_*
// variables journey reads. The input topic is the one README names,
// journey.events, shared with every other run of this test: the script
// writes a new seed each time (new message ids, so nothing is taken for a
// duplicate), and a new group with new state reads from the earliest
// offset, so earlier runs' events add triggers of their own and never
// hide this run's.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs journey against a real Kafka and Redis for up to a few minutes: skipped in -short mode")
	}
	brokers := testrig.KafkaBrokers(t)
	redisAddr := testrig.RedisAddr(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash not found")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go not found: the script builds journey with it")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}

	var b [4]byte
	_, _ = rand.Read(b[:])
	id := "quickstart-" + hex.EncodeToString(b[:])
	prefix := id + ":"
	admin := freeAddr(t)
	env := []string{
		"JOURNEY_BROKERS=" + strings.Join(brokers, ","),
		"JOURNEY_REDIS_ADDR=" + redisAddr,
		"KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"REDIS_ADDR=" + redisAddr,
		"JOURNEY_GROUP_ID=" + id,
		"JOURNEY_DLQ_TOPIC=" + id + ".dlq",
		"JOURNEY_REDIS_PREFIX=" + prefix,
		"JOURNEY_STATE_DIR=" + t.TempDir(),
		"JOURNEY_ADMIN_ADDR=" + admin,
	}
	for _, kv := range os.Environ() { // nothing else of the developer's journey settings
		if !strings.HasPrefix(kv, "JOURNEY_") && !strings.HasPrefix(kv, "KAFKA_BROKERS=") && !strings.HasPrefix(kv, "REDIS_ADDR=") {
			env = append(env, kv)
		}
	}

	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		for len(keys) > 0 {
			n := min(len(keys), 500)
			rdb.Del(ctx, keys[:n]...)
			keys = keys[n:]
		}
		_ = rdb.Close()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bash, filepath.Join(root, "examples", "quickstart.sh"))
	cmd.Dir = root
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	// The script and everything it starts are one process group: a test
	// that times out stops them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	began := time.Now()
	err = cmd.Run()
	t.Logf("examples/quickstart.sh ran %s", time.Since(began).Round(time.Second))
	if err != nil {
		t.Fatalf("examples/quickstart.sh: %v\n%s", err, tail(out.String(), 60))
	}

	// The consumer's 5 triggers are in the streams of this run's prefix,
	// read and acknowledged by the example consumer's group.
	ctx2 := context.Background()
	var entries, read int64
	for _, ch := range []string{"email", "call_centre"} {
		s := prefix + "triggers:" + ch
		n, err := rdb.XLen(ctx2, s).Result()
		if err != nil {
			t.Fatal(err)
		}
		entries += n
		groups, err := rdb.XInfoGroups(ctx2, s).Result()
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for _, g := range groups {
			if g.Name == "example-service" {
				read += g.EntriesRead
				if g.Pending != 0 {
					t.Errorf("%s: %d triggers read and not acknowledged", s, g.Pending)
				}
			}
		}
	}
	if entries < 5 || read < 5 {
		t.Errorf("%d triggers in %s's streams, %d read by the consumer group; want at least 5\n%s",
			entries, prefix, read, tail(out.String(), 60))
	}
	// journey run is gone: its admin port no longer answers.
	if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("journey run's admin address %s still answers after the script ended", admin)
	}
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
