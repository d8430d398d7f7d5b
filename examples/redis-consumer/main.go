// Command redis-consumer is a downstream service reading journey's
// triggers, as an email service or a call-centre desktop would: one Redis
// consumer group over the trigger streams of its channels
// (journey:triggers:<channel>), each trigger looked up with the customer's
// context hash (journey:ctx:<customer_id>) and acknowledged once handled.
// Run several copies with different -consumer names to share the work.
//
//	go run ./examples/redis-consumer -channels email,call_centre
//
// Redis is $JOURNEY_REDIS_ADDR (else 127.0.0.1:6379), the key prefix
// $JOURNEY_REDIS_PREFIX (else "journey:") and the password
// $JOURNEY_REDIS_PASSWORD: the variables journey run reads, so a shell
// set up for journey is set up for this too. It prints one line per
// trigger. -max stops it after that many triggers (and fails when fewer
// arrive within -duration); Ctrl-C stops it cleanly.
//
// Error handling, the part worth copying: a read that times out with
// nothing new (redis.Nil) reads again; a cancelled context ends the loop
// without an error; any other error (Redis restarting, a dropped
// connection) is logged and retried with a growing pause, and the groups
// are created again if Redis lost them (NOGROUP). An entry is acknowledged
// after it is handled, so a crash in between delivers it again: at start
// the consumer first reads its own pending entries. Trigger ids are stable
// across journey's replays and redeliveries; keep them if you must never
// act twice.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink/redissink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.SetFlags(0)
	log.SetPrefix("redis-consumer: ")
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		log.Fatal(err)
	}
}

// options are the command's flags.
type options struct {
	addr, prefix        string
	channels            []string
	group, consumer     string
	max                 int
	duration            time.Duration
	backoff, maxBackoff time.Duration
}

func parse(args []string, stderr io.Writer) (options, error) {
	o := options{backoff: time.Second, maxBackoff: 30 * time.Second}
	fs := flag.NewFlagSet("redis-consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: redis-consumer [flags]\n\n"+
			"Reads journey's trigger streams with a Redis consumer group, prints each trigger with the\n"+
			"customer's context and acknowledges it. Flags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", envOr("JOURNEY_REDIS_ADDR", "127.0.0.1:6379"), "Redis host:port [$JOURNEY_REDIS_ADDR]")
	fs.StringVar(&o.prefix, "prefix", envOr("JOURNEY_REDIS_PREFIX", "journey:"), "journey's key prefix, redis.prefix [$JOURNEY_REDIS_PREFIX]")
	channels := fs.String("channels", "email", "channels to read, comma-separated: email, push, sms, call_centre, ...")
	fs.StringVar(&o.group, "group", "example-service", "consumer group: every group gets every trigger once")
	fs.StringVar(&o.consumer, "consumer", "consumer-1", "this consumer's name in the group: consumers of a group share its triggers")
	fs.IntVar(&o.max, "max", 0, "stop once this many triggers were handled (0: no limit)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until Ctrl-C); with -max, fewer triggers by then is an error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, c := range strings.Split(*channels, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.channels = append(o.channels, c)
		}
	}
	switch {
	case len(o.channels) == 0:
		return o, errors.New("-channels: name at least one channel")
	case o.max < 0:
		return o, fmt.Errorf("-max: must not be negative, got %d", o.max)
	case o.duration < 0:
		return o, fmt.Errorf("-duration: must not be negative, got %s", o.duration)
	}
	return o, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	// A read blocked in XREADGROUP ends after its Block (2 s) even when ctx
	// is done before: that bounds how long Ctrl-C or -duration waits.
	rdb := redis.NewClient(&redis.Options{Addr: o.addr, Password: os.Getenv("JOURNEY_REDIS_PASSWORD")})
	defer rdb.Close()
	c := &consumer{
		rdb: rdb, keys: redissink.Config{Prefix: o.prefix}, group: o.group, name: o.consumer,
		out: stdout, log: newLogger(stderr),
		backoff: o.backoff, maxBackoff: o.maxBackoff,
	}
	for _, ch := range o.channels {
		c.streams = append(c.streams, c.keys.StreamKey(ch))
	}
	n, err := 0, c.createGroups(ctx)
	if err == nil {
		n, err = c.consume(ctx, o.max)
	}
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) { // Ctrl-C while starting is not an error
		return err
	}
	if o.max > 0 && n < o.max && errors.Is(ctx.Err(), context.DeadlineExceeded) { // not after Ctrl-C
		return fmt.Errorf("%d of -max %d triggers within -duration %s", n, o.max, o.duration)
	}
	return nil
}

func newLogger(w io.Writer) *log.Logger { return log.New(w, "redis-consumer: ", 0) }

// consumer reads a group's share of the trigger streams.
type consumer struct {
	rdb         *redis.Client
	keys        redissink.Config // the key names: StreamKey, ContextKey
	streams     []string
	group, name string
	out         io.Writer
	log         *log.Logger
	// backoff is the first pause after a failed read, doubled up to
	// maxBackoff while reads keep failing.
	backoff, maxBackoff time.Duration
}

// createGroups creates the consumer group on every stream (and the stream
// if journey has not written it yet). "$": a new group starts with the
// triggers added from now on; "0" would take every trigger the stream
// still holds (up to redis.stream_max_len).
func (c *consumer) createGroups(ctx context.Context) error {
	for _, s := range c.streams {
		err := c.rdb.XGroupCreateMkStream(ctx, s, c.group, "$").Err()
		if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") { // BUSYGROUP: it exists
			return fmt.Errorf("create group %s on %s: %w", c.group, s, err)
		}
	}
	return nil
}

// consume handles triggers until ctx is done or limit (if > 0) were
// handled, and returns how many were. A done ctx is not an error.
func (c *consumer) consume(ctx context.Context, limit int) (int, error) {
	handled := 0
	pause := c.backoff
	// "0" reads this consumer's pending entries: delivered before a crash
	// and never acknowledged. Once there are none, ">" reads new ones.
	from := "0"
	for ctx.Err() == nil && (limit == 0 || handled < limit) {
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: c.group, Consumer: c.name, Streams: c.readArgs(from), Count: 100, Block: 2 * time.Second,
		}).Result()
		switch {
		case ctx.Err() != nil:
			return handled, nil // stopped: Ctrl-C or -duration
		case errors.Is(err, redis.Nil):
			continue // nothing new within Block
		case err != nil:
			c.log.Printf("XREADGROUP: %v (again in %s)", err, pause)
			if redis.HasErrorPrefix(err, "NOGROUP") { // Redis lost the group (restarted without persistence)
				if err := c.createGroups(ctx); err != nil {
					c.log.Print(err)
				}
			}
			select {
			case <-ctx.Done():
				return handled, nil
			case <-time.After(pause):
			}
			pause = min(2*pause, c.maxBackoff)
			continue
		}
		pause = c.backoff
		n := 0
		for _, stream := range res {
			for _, msg := range stream.Messages {
				c.handle(ctx, stream.Stream, msg)
				n++
			}
		}
		handled += n
		if from == "0" && n == 0 {
			from = ">"
		}
	}
	return handled, nil
}

// readArgs is XREADGROUP's STREAMS argument: every stream, then an id for
// each.
func (c *consumer) readArgs(from string) []string {
	args := append([]string(nil), c.streams...)
	for range c.streams {
		args = append(args, from)
	}
	return args
}

// handle acts on one entry and acknowledges it. An entry that is not a
// trigger is logged and acknowledged too: delivering it again would not
// make it one.
func (c *consumer) handle(ctx context.Context, stream string, msg redis.XMessage) {
	t, err := redissink.DecodeTrigger(msg)
	if err != nil {
		c.log.Printf("%s %s: %v", stream, msg.ID, err)
	} else {
		// The context hash: what the customer did lately, in one call. A
		// failed lookup still lets the trigger through, without it.
		cx, err := c.rdb.HGetAll(ctx, c.keys.ContextKey(t.CustomerID)).Result()
		if err != nil {
			c.log.Printf("HGETALL context of %s: %v", t.CustomerID, err)
		}
		act(c.out, t, cx)
	}
	if err := c.rdb.XAck(ctx, stream, c.group, msg.ID).Err(); err != nil {
		// Left pending: read again with "0" after a restart.
		c.log.Printf("XACK %s %s: %v", stream, msg.ID, err)
	}
}

// act is where a real service sends the email or shows the agent a card.
// Triggers carry ids and reason codes, no personal data.
func act(w io.Writer, t journey.Trigger, cx map[string]string) {
	fmt.Fprintf(w, "%s %-12s %-20s %-18s %s last_channel=%s\n",
		t.At.Format(time.RFC3339), t.Channel, t.Rule, t.Reason, t.CustomerID, cx["last_channel"])
}
