package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/generate"
	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/dormancy"
	"github.com/journey-dev/journey/processors/engagement"
	"github.com/journey-dev/journey/processors/interest"
	"github.com/journey-dev/journey/processors/recovery"
)

// triggerRules are the rules of every processor that emits triggers; the
// others (profile, chanpref, policy) shape them.
var triggerRules = []string{interest.Rule, cart.Rule, recovery.Rule, engagement.Rule, dormancy.Rule}

// TestDevConfig: dev.yaml is a valid configuration that builds every
// processor, and it (like journey.example.yaml, which docker-compose.yml
// runs journey with) maps every CloudEvents type the generator emits.
func TestDevConfig(t *testing.T) {
	cfg, err := devConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Brokers = []string{"127.0.0.1:9092"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	procs, err := processors.Build(cfg.Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != len(processors.All()) {
		t.Fatalf("%d processors, want %d", len(procs), len(processors.All()))
	}
	if !maps.Equal(cfg.Ingest.CloudEventTypes, generate.CloudEventTypes()) {
		t.Errorf("dev.yaml ingest.cloudevent_types = %v, want generate.CloudEventTypes() %v", cfg.Ingest.CloudEventTypes, generate.CloudEventTypes())
	}
	example := config.Default()
	if err := example.Load("../../journey.example.yaml"); err != nil {
		t.Fatal(err)
	}
	for typ, name := range generate.CloudEventTypes() {
		if example.Ingest.CloudEventTypes[typ] != name {
			t.Errorf("journey.example.yaml does not map %s to %q: journey generate's CloudEvents would not be folded", typ, name)
		}
	}
}

// TestDevTrafficFiresEveryRule folds a minute and a half of the generator's
// traffic (at dev's default rate and population) through the processors as
// dev configures them, on event time with timers, as one partition would:
// every trigger rule must get past the contact policy within the first
// minute. It is the fast, in-process counterpart of TestDev.
func TestDevTrafficFiresEveryRule(t *testing.T) {
	cfg, err := devConfig("")
	if err != nil {
		t.Fatal(err)
	}
	procs, err := processors.Build(cfg.Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC) // customers' time zones span the day
	dec, err := ingest.NewDecoder(ingest.Config{CloudEventTypes: cfg.Ingest.CloudEventTypes, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	g, err := generate.New(generate.Config{Customers: 500, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(engine, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	r.Timers = &journey.MemTimers{}
	r.Lateness = cfg.Timers.Lateness
	first := map[string]time.Duration{}
	admitted := map[string]int{}
	suppressed := map[string]int{}
	var out journey.Output
	const rate = 50
	for i := range 90 * rate {
		m := g.Next(start.Add(time.Duration(i) * time.Second / rate))
		rec := ingest.Record{Topic: "journey.events", Key: m.Key, Value: m.Value, Time: m.Time}
		for _, h := range m.Headers {
			rec.Headers = append(rec.Headers, ingest.Header{Key: h.Key, Value: h.Value})
		}
		ev, err := dec.Decode(rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		out.Reset()
		if err := r.Apply(&ev, &out); err != nil {
			t.Fatal(err)
		}
		for _, tr := range out.Triggers {
			admitted[tr.Rule]++
			if _, ok := first[tr.Rule]; !ok {
				first[tr.Rule] = m.Time.Sub(start)
			}
		}
		for _, s := range out.Suppressed {
			suppressed[s.Reason]++
		}
	}
	t.Logf("admitted %v; suppressed %v; first at %v", admitted, suppressed, first)
	for _, rule := range triggerRules {
		switch at, ok := first[rule]; {
		case !ok:
			t.Errorf("no %s trigger in 90s of traffic", rule)
		case at > time.Minute:
			t.Errorf("first %s trigger after %v, want within a minute", rule, at)
		}
	}
}

// TestDevPortTaken: a port that is taken stops journey dev at once with an
// error naming the flag and the port.
func TestDevPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, flag := range []string{"--kafka-port", "--redis-port", "--admin-port"} {
		t.Run(flag, func(t *testing.T) {
			args := []string{"dev", "--kafka-port", "0", "--redis-port", "0", "--admin-port", "0", flag, port}
			var out, errb bytes.Buffer
			if code := dispatch(context.Background(), args, &out, &errb); code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
			}
			if msg := errb.String(); !strings.Contains(msg, flag+" "+port) || !strings.Contains(msg, "in use") && !strings.Contains(msg, "not free") {
				t.Fatalf("error does not name %s %s as taken: %s", flag, port, msg)
			}
		})
	}
}

var (
	devKafkaRe = regexp.MustCompile(`(?m)^  Kafka +(127\.0\.0\.1:\d+)`)
	devRedisRe = regexp.MustCompile(`(?m)^  Redis +(127\.0\.0\.1:\d+)`)
)

// TestDev runs `journey dev` as a child process on free ports with a fixed
// seed, and checks through clients it does not share code with that the
// real path works: triggers of every processor that emits them arrive in
// the in-process Redis (read with go-redis XRANGE), Debian's kcat lists the
// topics on the embedded broker and reads events from them, and Ctrl-C
// (SIGINT) stops it with exit code 0.
func TestDev(t *testing.T) {
	if testing.Short() {
		t.Skip("runs journey dev for up to a minute: skipped in -short mode (make test-unit)")
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat not found (rig/install.sh installs it)")
		}
		t.Skip("kcat not found: run rig/install.sh or make test")
	}
	journeyBinary(t) // build first: the timings below are journey dev's own
	began := time.Now()
	c := startChild(t, "dev", "--kafka-port", "0", "--redis-port", "0", "--admin-port", "0", "--seed", "7", "--rate", "50")
	var kafkaAddr, redisAddr string
	testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-c.done:
			t.Fatalf("journey dev exited:\n%s", c.tail(30))
		default:
		}
		out := c.output()
		k, r := devKafkaRe.FindStringSubmatch(out), devRedisRe.FindStringSubmatch(out)
		if k == nil || r == nil {
			return errors.New("journey dev has not printed its addresses yet")
		}
		kafkaAddr, redisAddr = k[1], r[1]
		return nil
	})
	t.Logf("journey dev up in %v: Kafka %s, Redis %s", time.Since(began).Round(time.Millisecond), kafkaAddr, redisAddr)

	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	ctx := context.Background()
	firstSeen := map[string]time.Duration{}
	byChannel := map[string]int{}
	testrig.CheckFor(t, 75*time.Second, 250*time.Millisecond, func() error {
		keys, err := rdb.Keys(ctx, "journey:triggers:*").Result()
		if err != nil {
			return err
		}
		byRule := map[string]int{}
		clear(byChannel)
		for _, k := range keys {
			msgs, err := rdb.XRange(ctx, k, "-", "+").Result()
			if err != nil {
				return err
			}
			for _, m := range msgs {
				rule, _ := m.Values["rule"].(string)
				byRule[rule]++
				byChannel[strings.TrimPrefix(k, "journey:triggers:")]++
				if _, ok := firstSeen[rule]; !ok {
					firstSeen[rule] = time.Since(began)
				}
			}
		}
		var missing []string
		for _, r := range triggerRules {
			if byRule[r] == 0 {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("no trigger yet of %v (have %v)", missing, byRule)
		}
		return nil
	})
	t.Logf("first trigger of each rule after start: %v; triggers by channel: %v", firstSeen, byChannel)

	// The context hash downstream services read: profile, interest and
	// policy fields of a customer with a trigger.
	msgs, err := rdb.XRangeN(ctx, "journey:triggers:email", "-", "+", 1).Result()
	if err != nil || len(msgs) == 0 {
		t.Fatalf("read journey:triggers:email: %v (%d entries)", err, len(msgs))
	}
	cust, _ := msgs[0].Values["customer_id"].(string)
	cx, err := rdb.HGetAll(ctx, "journey:ctx:"+cust).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"last_channel", "engagement.tier", "policy.consent"} {
		if _, ok := cx[f]; !ok {
			t.Errorf("journey:ctx:%s has no %s field: %v", cust, f, slices.Sorted(maps.Keys(cx)))
		}
	}

	// kcat, a client we did not write, sees the topics and reads events.
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(kctx, kcat, "-L", "-b", kafkaAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	for _, topic := range []string{`topic "journey.events" with 4 partitions`, `topic "journey.dlq" with 4 partitions`} {
		if !bytes.Contains(out, []byte(topic)) {
			t.Errorf("kcat -L does not list %s:\n%s", topic, out)
		}
	}
	out, err = exec.CommandContext(kctx, kcat, "-C", "-b", kafkaAddr, "-t", "journey.events", "-c", "5", "-e", "-q", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 {
		t.Fatalf("kcat -C -c 5 read %d records:\n%s", len(lines), out)
	}
	for _, l := range lines {
		key, value, _ := strings.Cut(l, "\t")
		if key == "" || !json.Valid([]byte(value)) {
			t.Errorf("record keyed %q is not a JSON event: %s", key, value)
		}
	}

	if code := c.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("journey dev exited %d after SIGINT, want 0\n%s", code, c.tail(20))
	}
	if !strings.Contains(c.output(), "journey dev stopped after") {
		t.Errorf("no summary at exit:\n%s", c.tail(10))
	}
	t.Logf("total %v", time.Since(began).Round(time.Millisecond))
}
