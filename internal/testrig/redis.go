package testrig

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server of a test's own (NewRedis), for a test that
// stops and starts it: the rig's Redis is shared by every test.
type Redis struct {
	// Addr is its host:port; it keeps the port across Stop and Start.
	Addr string
	t    testing.TB
	args []string
	cmd  *exec.Cmd
}

// RedisOption configures NewRedis.
type RedisOption func(*redisOpts)

type redisOpts struct{ persist bool }

// RedisNoPersistence runs it without AOF or snapshots, as the rig's Redis
// runs: a restart (Stop, Start) forgets every key — the streams and the
// trigger-id markers.
func RedisNoPersistence() RedisOption { return func(o *redisOpts) { o.persist = false } }

// NewRedis starts a redis-server on a free loopback port with its data in
// dir, with AOF (appendfsync always) unless RedisNoPersistence: a restart
// keeps the streams and the trigger-id markers, as a production Redis
// would. It is killed when the test ends. Skipped (failed under CI=true)
// without redis-server (make test installs it).
func NewRedis(t testing.TB, dir string, opts ...RedisOption) *Redis {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped in -short mode (make test-unit); run `make test`")
	}
	o := redisOpts{persist: true}
	for _, opt := range opts {
		opt(&o)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("testrig: redis-server not found (make test installs it)")
		}
		t.Skip("redis-server not found: run make test")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--dir", dir}
	if o.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	r := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t, args: append([]string{bin}, args...)}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Stop kills the server at once (SIGKILL), as a crash would, and waits for
// it to exit. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Start starts a stopped server again on the same port and data dir, and
// waits until it answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	if r.cmd != nil {
		r.t.Fatal("testrig: redis-server is running")
	}
	cmd := exec.Command(r.args[0], r.args[1:]...)
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
	defer c.Close()
	CheckFor(r.t, 20*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	})
}
