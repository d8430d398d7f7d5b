package redissink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// reply is a Redis error reply, as go-redis returns them.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{reply("LOADING Redis is loading the dataset in memory"), true},
		{reply("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."), true},
		{reply("READONLY You can't write against a read only replica."), true},
		{reply("OOM command not allowed when used memory > 'maxmemory'."), true},
		{reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), true},
		{reply("NOREPLICAS Not enough good replicas to write."), true},
		{reply("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{reply("CLUSTERDOWN The cluster is down"), true},
		{reply("ERR max number of clients reached"), true},
		{fmt.Errorf("hook: %w", reply("LOADING Redis is loading")), true},
		{reply("BUSYGROUP Consumer Group name already exists"), false},
		{reply("WRONGTYPE Operation against a key holding the wrong kind of value"), true},
		{reply("NOPERM this user has no permissions to run the 'evalsha' command"), true},
		{reply("ERR The user executing the script can't run this command or subcommand"), true},
		{reply("NOAUTH Authentication required."), true},
		{reply("WRONGPASS invalid username-password pair or user is disabled."), true},
		{reply("ERR unknown command 'evalsha'"), false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{io.EOF, true},
		{io.ErrUnexpectedEOF, true},
		{redis.ErrPoolTimeout, true},
		{context.DeadlineExceeded, true},
		{redis.ErrClosed, false},
		{errors.New("redis: can't parse reply"), false},
	} {
		if got := retriable(tc.err); got != tc.want {
			t.Errorf("retriable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{reply("WRONGTYPE Operation against a key holding the wrong kind of value"), "wrongtype"},
		{reply("NOPERM this user has no permissions to run the 'evalsha' command"), "noperm"},
		{reply("ERR The user executing the script can't run this command or subcommand"), "noperm"},
		{reply("NOAUTH Authentication required."), "noauth"},
		{reply("ERR max number of clients reached"), "maxclients"},
		{reply("ERR unknown command 'evalsha'"), "redis_error"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "unavailable"},
		{redis.ErrClosed, "closed"},
	} {
		if got := reason(tc.err); got != tc.want {
			t.Errorf("reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
