// Package progress is how a process under test in the peer benchmark
// (bench/peers) reports how far it got: one line on stdout per mark, a
// number of records processed, with the wall-clock time it was reached:
//
//	mark <records> <unix nanoseconds>
//
// The bench passes the marks (-marks 1,2000000,2100000: the first record,
// the end of the bulk stream, the end of the live stream) and times the run
// from these lines; it reads the process's CPU time from /proc when it
// receives them. The Goka and Kafka Streams peers print the same lines.
package progress

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ParseMarks parses a comma-separated list of positive counts.
func ParseMarks(s string) ([]int64, error) {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("mark %q: want a positive count", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Counter counts records processed and prints each mark as it is passed.
// It is safe for concurrent use; Add is one atomic add and one atomic load
// unless a mark is passed.
type Counter struct {
	n    atomic.Int64
	next atomic.Int64 // the next mark to print; MaxInt64 when none is left

	mu    sync.Mutex
	marks []int64 // not printed yet, ascending
	w     io.Writer
}

// NewCounter returns a counter printing marks to w.
func NewCounter(marks []int64, w io.Writer) *Counter {
	c := &Counter{marks: slices.Clone(marks), w: w}
	c.next.Store(c.head())
	return c
}

func (c *Counter) head() int64 {
	if len(c.marks) == 0 {
		return 1<<63 - 1
	}
	return c.marks[0]
}

// Add counts k records.
func (c *Counter) Add(k int64) {
	if n := c.n.Add(k); n >= c.next.Load() {
		c.Reached(n)
	}
}

// Count returns the records counted.
func (c *Counter) Count() int64 { return c.n.Load() }

// Reached prints every mark up to n not printed yet (for processes that
// learn their progress otherwise than through Add).
func (c *Counter) Reached(n int64) {
	now := time.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.marks) > 0 && c.marks[0] <= n {
		fmt.Fprintf(c.w, "mark %d %d\n", c.marks[0], now)
		c.marks = c.marks[1:]
	}
	c.next.Store(c.head())
}

// Done reports whether every mark was printed.
func (c *Counter) Done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.marks) == 0
}
