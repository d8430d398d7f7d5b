package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/bench/peers/workload"
	"github.com/journey-dev/journey/pkg/config"
)

// forgetRun is the forget phase: `journey forget --wait` against one
// `journey run` holding -forget-customers customers, with every trigger
// stream it wrote filled to redis.stream_max_len (the most entries a
// forget reads through).
type forgetRun struct {
	Customers int   `json:"customers"`
	Events    int64 `json:"events"`
	// FoldSeconds is start → input committed.
	FoldSeconds float64 `json:"fold_seconds"`
	// Streams are the trigger streams and their lengths when the forgets
	// ran.
	Streams map[string]int64 `json:"streams"`
	Rounds  []forgetTiming   `json:"rounds"`
	RSSMB   float64          `json:"journey_peak_rss_mb"`
	// MemoryLimit is the run's state.memory_limit (0: the default).
	MemoryLimit int64 `json:"memory_limit,omitempty"`
}

// forgetTiming is one `journey forget --wait` process.
type forgetTiming struct {
	IDs     int     `json:"ids"`
	Seconds float64 `json:"seconds"` // the process, start to exit
	// WithTriggers counts the ids that had entries in a trigger stream;
	// Left the entries and context hashes of the ids still in Redis after
	// the command returned (0 when the erase is whole).
	WithTriggers int `json:"ids_with_triggers"`
	Left         int `json:"left_in_redis"`
}

// forgetPhase folds a topic of its own with -forget-customers customers
// (one event each), fills the trigger
// streams, then times `journey forget --wait` for 1 id and for 10.
func (b *bench) forgetPhase(ctx context.Context, rdb *redis.Client, res *results) error {
	o := b.opts
	n := o.forgetCustomers
	topic := "scale.forget." + b.stamp
	if err := b.cluster.create(ctx, topic, o.partitions); err != nil {
		return err
	}
	b.logf("forget: produce %d events of %d customers...", n, n)
	if _, err := produceBulk(ctx, o.brokers, topic, o.seed+1, n, n); err != nil {
		return err
	}
	g, err := b.newGroup(ctx, "forget", topic)
	if err != nil {
		return err
	}
	_, ends, err := b.cluster.span(ctx, topic, o.partitions)
	if err != nil {
		return err
	}
	fr := &forgetRun{Customers: n, Streams: map[string]int64{}}
	for _, e := range ends {
		fr.Events += e
	}
	start := time.Now()
	p, err := b.startRun(ctx, g, "forget", 0)
	if err != nil {
		return err
	}
	defer p.kill()
	// A million new customers fold far slower than the restore phase's
	// workload (every event creates every processor's state): allow
	// three times the usual wait.
	wait := *b
	wait.opts.catchUpTimeout *= 3
	if err := wait.waitCaughtUp(ctx, g, ends, []*proc{p}); err != nil {
		return err
	}
	fr.FoldSeconds = time.Since(start).Seconds()
	b.logf("forget: journey run folded %d events of %d customers in %.1fs", fr.Events, n, fr.FoldSeconds)
	prefix := g.name + ":"
	// The folded input is committed; its context updates may still be on
	// their way to Redis. Time the forgets on an idle journey: wait for
	// every outbox to drain, then fill every stream to its cap.
	err = poll(ctx, 5*time.Minute, 250*time.Millisecond, func() (bool, error) {
		m, err := p.metrics(ctx)
		if err != nil {
			return false, nil
		}
		return m.sum("journey_outbox_depth") == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the outbox to drain: %w", err)
	}
	maxLen := config.Default().Redis.StreamMaxLen
	streams, err := rdb.Keys(ctx, prefix+"triggers:*").Result()
	if err != nil {
		return err
	}
	for _, ch := range []string{"email", "push", "sms"} { // the default policy's channels, written or not
		if s := prefix + "triggers:" + ch; !slices.Contains(streams, s) {
			streams = append(streams, s)
		}
	}
	// The ids to forget: 11 customers of the workload. Every 997th entry
	// padded into the streams is one of theirs (as if delivered to them),
	// so the erase has entries to find all along each stream.
	var chosen []string
	for i := 1000; len(chosen) < 11; i += 7919 {
		chosen = append(chosen, workload.CustomerID(i%n))
	}
	for _, s := range streams {
		if err := padStream(ctx, rdb, s, maxLen, chosen); err != nil {
			return err
		}
		if fr.Streams[strings.TrimPrefix(s, prefix)], err = rdb.XLen(ctx, s).Result(); err != nil {
			return err
		}
	}
	b.logf("forget: trigger streams %v (padded to redis.stream_max_len %d)", fr.Streams, maxLen)
	for _, ids := range [][]string{chosen[:1], chosen[1:]} {
		k := len(ids)
		t := forgetTiming{IDs: k}
		if t.WithTriggers, err = withEntries(ctx, rdb, streams, ids); err != nil {
			return err
		}
		args := append([]string{"forget", "--config", g.config, "--wait", "--timeout", "5m"}, ids...)
		began := time.Now()
		out, err := exec.CommandContext(ctx, b.bin, args...).CombinedOutput()
		t.Seconds = time.Since(began).Seconds()
		if err != nil {
			return fmt.Errorf("journey forget --wait %d ids: %w: %s", k, err, out)
		}
		for _, id := range ids {
			if !strings.Contains(string(out), id+": erased ") {
				res.Problems = append(res.Problems, fmt.Sprintf("journey forget --wait did not report %s erased: %s", id, out))
			}
		}
		if t.Left, err = leftInRedis(ctx, rdb, prefix, streams, ids); err != nil {
			return err
		}
		if t.Left > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("forget of %d ids: %d entries or hashes of theirs still in Redis", k, t.Left))
		}
		b.logf("forget: journey forget --wait, %d id(s) (%d with triggers): %.2fs; left in Redis: %d", k, t.WithTriggers, t.Seconds, t.Left)
		fr.Rounds = append(fr.Rounds, t)
	}
	fr.RSSMB, fr.MemoryLimit = peakRSS(p.cmd.Process.Pid), b.opts.memoryLimit
	if err := p.stop(90 * time.Second); err != nil {
		return err
	}
	res.Forget = fr
	return nil
}

// peakRSS is the process's VmHWM in MB (0 when unreadable).
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1000
		}
	}
	return 0
}

// padStream adds entries to stream until it holds n: every 997th of
// one of ids, the others of customers nobody forgets.
func padStream(ctx context.Context, rdb *redis.Client, stream string, n int64, ids []string) error {
	have, err := rdb.XLen(ctx, stream).Result()
	if err != nil {
		return err
	}
	for have < n {
		pipe := rdb.Pipeline()
		for i := 0; i < 1000 && have < n; i++ {
			c := fmt.Sprintf("pad-%d", have%50_000)
			if have%997 == 0 {
				c = ids[int(have/997)%len(ids)]
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{
				"id": fmt.Sprintf("pad-%d", have), "customer_id": c, "rule": "pad",
			}})
			have++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// withEntries counts the ids that have entries in streams.
func withEntries(ctx context.Context, rdb *redis.Client, streams, ids []string) (int, error) {
	seen := map[string]bool{}
	err := scanStreams(ctx, rdb, streams, func(c string) {
		if slices.Contains(ids, c) {
			seen[c] = true
		}
	})
	return len(seen), err
}

// scanStreams calls fn with the customer_id of every entry of streams.
func scanStreams(ctx context.Context, rdb *redis.Client, streams []string, fn func(customer string)) error {
	for _, s := range streams {
		for from := "-"; ; {
			es, err := rdb.XRangeN(ctx, s, from, "+", 5000).Result()
			if err != nil {
				return err
			}
			for _, e := range es {
				c, _ := e.Values["customer_id"].(string)
				fn(c)
			}
			if len(es) < 5000 {
				break
			}
			from = "(" + es[len(es)-1].ID
		}
	}
	return nil
}

// leftInRedis counts the context hashes of ids and the stream entries
// naming them that are still in Redis.
func leftInRedis(ctx context.Context, rdb *redis.Client, prefix string, streams, ids []string) (int, error) {
	left := 0
	for _, id := range ids {
		n, err := rdb.Exists(ctx, prefix+"ctx:"+id).Result()
		if err != nil {
			return 0, err
		}
		left += int(n)
	}
	err := scanStreams(ctx, rdb, streams, func(c string) {
		if slices.Contains(ids, c) {
			left++
		}
	})
	if err != nil {
		return 0, err
	}
	return left, nil
}
