package kafkaio

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/segmentio/kafka-go"
)

// errCut is what a cut dialer answers every dial with.
var errCut = errors.New("kafkaio: connections cut (shutting down)")

// CuttableDialer returns a copy of dialer whose connections can all be cut
// at once: cut closes every connection it opened that is still open, and
// makes it refuse new ones.
//
// kafka-go's consumer group runs its protocol on a goroutine of its own
// that Close waits for, and a JoinGroup in flight holds that goroutine as
// long as the broker holds the request: the group's initial rebalance
// delay (group.initial.rebalance.delay.ms, 3 s by default), or a
// rebalance, up to the rebalance timeout. Cutting its connections ends the
// request at once, so a shutdown during start-up does not wait for it.
func CuttableDialer(dialer *kafka.Dialer) (d *kafka.Dialer, cut func()) {
	c := &cutter{open: map[*cutConn]struct{}{}}
	d = new(kafka.Dialer)
	*d = *dialer
	base := dialer.DialFunc
	if base == nil {
		nd := &net.Dialer{LocalAddr: dialer.LocalAddr, KeepAlive: dialer.KeepAlive, FallbackDelay: dialer.FallbackDelay}
		base = nd.DialContext
	}
	d.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		if c.isCut() {
			return nil, errCut
		}
		conn, err := base(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return c.add(conn)
	}
	return d, c.cut
}

type cutter struct {
	mu   sync.Mutex
	done bool
	open map[*cutConn]struct{}
}

func (c *cutter) isCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *cutter) add(conn net.Conn) (net.Conn, error) {
	cc := &cutConn{Conn: conn, c: c}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		_ = conn.Close()
		return nil, errCut
	}
	c.open[cc] = struct{}{}
	return cc, nil
}

func (c *cutter) cut() {
	c.mu.Lock()
	c.done = true
	conns := make([]*cutConn, 0, len(c.open))
	for cc := range c.open {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		_ = cc.Close()
	}
}

// cutConn is a connection its cutter tracks until it is closed.
type cutConn struct {
	net.Conn
	c *cutter
}

func (cc *cutConn) Close() error {
	cc.c.mu.Lock()
	delete(cc.c.open, cc)
	cc.c.mu.Unlock()
	return cc.Conn.Close()
}
