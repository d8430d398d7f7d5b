package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// PingRedis asks Redis at addr for a PONG within timeout (journey run
// passes kafka.dial_timeout, the bound of every start-up call) and returns
// an error naming the setting to fix: "redis.addr 127.0.0.1:1: connection refused", "redis.addr
// 127.0.0.1:8080: no answer to PING in 10s", "redis.password_file ($JOURNEY_REDIS_PASSWORD,
// redis.username): ...", "redis.tls.ca_file: ..." (redisSecurityError). It
// returns ctx's error as soon as ctx ends, whatever the client is doing.
func PingRedis(ctx context.Context, rdb *redis.Client, addr string, timeout time.Duration) error {
	return pingRedis(ctx, rdb, "redis.addr "+addr, addr, timeout)
}

// pingRedis is PingRedis naming the setting and address as where
// ("redis.addr 127.0.0.1:6379", "redis.sentinel.addrs ... (master m)").
func pingRedis(ctx context.Context, rdb *redis.Client, where, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errc := make(chan error, 1)
	// The client bounds a read by its own ReadTimeout, not by ctx: the
	// ping runs aside so that ctx ends the wait at once.
	go func() { errc <- rdb.Ping(ctx).Err() }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return ctx.Err() // stopped, not a Redis problem
	}
	if serr := redisSecurityError(addr, err, rdb.Options().TLSConfig != nil); serr != nil {
		return serr
	}
	return redisError(where, err, timeout)
}

// redisError names why Redis (where: its setting and address) did not
// answer PING.
func redisError(where string, err error, timeout time.Duration) error {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused", where)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: cannot resolve host: %s", where, dnsErr.Err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: no answer to PING in %s", where, timeout)
	default:
		return fmt.Errorf("%s: PING failed: %w", where, err)
	}
}

// RedisWait is Redis's part of readiness when redis.wait_at_start let
// journey start without it: Err is why Redis is not usable yet (nil once
// it has answered a PING), for /readyz to report.
type RedisWait struct {
	mu  sync.Mutex
	err error
}

// NewRedisWait returns a RedisWait that reports err until Run sees Redis
// answer.
func NewRedisWait(err error) *RedisWait { return &RedisWait{err: err} }

// Err is why Redis is not usable yet; nil once it answered.
func (w *RedisWait) Err() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Run pings Redis every interval until it answers (each ping bounded by
// timeout) or ctx ends; Err follows the last answer.
func (w *RedisWait) Run(ctx context.Context, rdb *redis.Client, addr string, timeout, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := PingRedis(ctx, rdb, addr, timeout)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
		if err == nil {
			return
		}
	}
}
