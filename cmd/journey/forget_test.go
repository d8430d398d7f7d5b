package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestForget is issue 25's erase through journey run and journey forget,
// on a real Kafka and Redis: a customer with state (views, a cart),
// merged with an anonymous id on another partition, is forgotten by its
// user id, and a second one by its anonymous id (the request goes on to
// the customer); their context hashes go, Pebble holds nothing of them
// outside the outbox (states, identity entries and timers are scanned),
// nor does a state dir restored from the changelog, their new events are
// dropped and counted, and another customer is untouched. The user's
// interest email leaves its trigger stream with its trigger-id key.
func TestForget(t *testing.T) {
	const parts = 4
	e := newRigEnv(t, parts)
	cfg := forgetConfig(t, e)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	view := func(p string) map[string]any { return map[string]any{"product_id": p, "category": "boots"} }
	user, other, user2 := "u-forgetme", "u-keepme", "u-forgetalso"
	anon, anon2 := apart("anon-forgetme", user, parts), apart("anon-forgetalso", user2, parts)

	kcatCRC32(t, e.brokers, e.topic,
		anonLine(anon, "e1", "track", "", anon, "Product Viewed", at(0), view("p1")),
		anonLine(anon, "e2", "track", "", anon, "Product Added", at(1), map[string]any{"product_id": "p1", "cart_id": "k1"}),
		anonLine(user, "e3", "identify", user, anon, "", at(2), nil),
		anonLine(user, "e4", "track", user, "", "Product Viewed", at(3), view("p2")),
		anonLine(other, "e5", "identify", other, "", "", at(2), nil),
		anonLine(other, "e6", "track", other, "", "Product Viewed", at(3), view("p3")),
		anonLine(other, "e6b", "track", other, "", "Product Viewed", at(4), view("p3b")),
		anonLine(anon2, "e10", "track", "", anon2, "Product Viewed", at(0), view("p7")),
		anonLine(user2, "e11", "identify", user2, anon2, "", at(2), nil),
	)
	ctx := context.Background()
	hash := func(id string) (map[string]string, error) { return e.rdb.HGetAll(ctx, e.prefix+"ctx:"+id).Result() }
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		a, err1 := hash(anon)
		u, err2 := hash(user)
		o, err3 := hash(other)
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		a2, err4 := hash(anon2)
		if err4 != nil {
			return err4
		}
		if a["merged_into"] != user || a2["merged_into"] != user2 || u["policy.consent"] == "" || o["policy.consent"] == "" {
			return fmt.Errorf("ctx %s=%v, %s has %d fields, %s %d: want the merge and both customers' contexts", anon, a, user, len(u), other, len(o))
		}
		return nil
	})
	// The interest emails: the user's (its anonymous view and its own,
	// merged) and the other customer's.
	emails := func() (map[string][]string, error) {
		es, err := e.rdb.XRange(ctx, e.prefix+"triggers:email", "-", "+").Result()
		by := map[string][]string{}
		for _, m := range es {
			c, _ := m.Values["customer_id"].(string)
			id, _ := m.Values["id"].(string)
			by[c] = append(by[c], id)
		}
		return by, err
	}
	var before map[string][]string
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		var err error
		if before, err = emails(); err != nil || len(before[user]) != 1 || len(before[other]) != 1 {
			return fmt.Errorf("email triggers by customer %v (%v): want one for %s and one for %s", before, err, user, other)
		}
		return nil
	})
	settled(t, e, 9, time.Minute)
	if got := storeMentions(t, c, e, user, anon, other, user2); !slices.Equal(got, []string{user, anon, other, user2}) {
		t.Fatalf("before the forget, the store mentions %v: want %s, %s (the merged id), %s and %s (the scan must see them)", got, user, anon, other, user2)
	}
	c = startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	var out, errb bytes.Buffer
	if code := dispatch(ctx, []string{"forget", "--config", cfg, "--wait", "--timeout", "30s", user, anon2}, &out, &errb); code != 0 {
		t.Fatalf("journey forget: exit %d: %s", code, errb.String())
	}
	// Per id, what was erased: the user with its anonymous id (two
	// partitions), the second customer by its anonymous id with its user.
	for _, want := range []string{
		// the user's state held views and the merged cart, with its timer
		regexp.QuoteMeta(user+": erased 2 id(s)") + `.*\n  state store: the state of [^\n]*interest[^\n]*cart[^\n]*, [1-9]\d* pending timer`,
		regexp.QuoteMeta(anon2 + ": erased 2 id(s)"), `\n  changelog \S+: tombstones`, regexp.QuoteMeta("\n  redis: " + e.prefix + "ctx:<id>"), `\.forgotten\)`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("journey forget --wait printed %q: lacks %q", out.String(), want)
		}
	}
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		for _, id := range []string{user, anon, user2, anon2} {
			if n, err := e.rdb.Exists(ctx, e.prefix+"ctx:"+id).Result(); err != nil || n != 0 {
				return fmt.Errorf("ctx:%s still exists (%v)", id, err)
			}
		}
		return nil
	})
	// The user's stream entry and its trigger-id key are gone; the other
	// customer's stay.
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		after, err := emails()
		if err != nil || len(after[user]) != 0 || !slices.Equal(after[other], before[other]) {
			return fmt.Errorf("email triggers by customer %v (%v): want only %s's %v", after, err, other, before[other])
		}
		return nil
	})
	for cust, want := range map[string]int64{user: 0, other: 1} {
		if n, err := e.rdb.Exists(ctx, e.prefix+"tid:"+before[cust][0]).Result(); err != nil || n != want {
			t.Errorf("the tid key of %s's trigger: exists %d (%v), want %d", cust, n, err, want)
		}
	}
	// New events of both forgotten ids are dropped; the other customer's
	// is folded.
	kcatCRC32(t, e.brokers, e.topic,
		anonLine(user, "e7", "track", user, "", "Product Viewed", at(10), view("p4")),
		anonLine(anon, "e8", "track", "", anon, "Product Viewed", at(10), view("p5")),
		anonLine(other, "e9", "track", other, "", "Product Viewed", at(10), view("p6")),
	)
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		m := c.get(t, "/metrics")
		for _, want := range []string{"journey_forgotten_events_total 2", "journey_forgotten_total 4"} {
			if !strings.Contains(m, want) {
				var got []string
				for _, l := range strings.Split(m, "\n") {
					if strings.HasPrefix(l, "journey_forgotten") {
						got = append(got, l)
					}
				}
				return fmt.Errorf("/metrics lacks %s: %q", want, got)
			}
		}
		return nil
	})
	settled(t, e, 12, time.Minute)
	for _, id := range []string{user, anon, user2, anon2} {
		if n, err := e.rdb.Exists(ctx, e.prefix+"ctx:"+id).Result(); err != nil || n != 0 {
			t.Errorf("ctx:%s came back (%v)", id, err)
		}
	}
	if o, err := hash(other); err != nil || o["policy.consent"] == "" {
		t.Errorf("ctx:%s = %v (%v): the other customer lost its context", other, o, err)
	}
	if got := storeMentions(t, c, e, user, anon, other, user2, anon2); len(got) != 1 || got[0] != other {
		t.Errorf("after the forget, the store mentions %v, want only %s", got, other)
	}
	// The changelog carries the erase: a state dir restored from it holds
	// nothing of them either.
	fresh := filepath.Join(e.dir, "restored")
	out.Reset()
	errb.Reset()
	if code := dispatch(ctx, []string{"state", "restore", "--config", cfg, "--state-dir", fresh}, &out, &errb); code != 0 {
		t.Fatalf("journey state restore: exit %d: %s", code, errb.String())
	}
	if got := scanMentions(t, fresh, user, anon, other, user2, anon2); len(got) != 1 || got[0] != other {
		t.Errorf("restored from the changelog, the store mentions %v, want only %s", got, other)
	}
	// A replay from the earliest records into a fresh directory reads the
	// forget ledger: the forgotten customers do not come back.
	replayed := filepath.Join(e.dir, "replayed")
	if code, rout := runToExit(t, 2*time.Minute, "replay", "--config", cfg, "--state-dir", replayed, "--from", "earliest",
		"--progress", "none"); code != 0 {
		t.Fatalf("journey replay: exit %d: %s", code, rout)
	}
	if got := scanMentions(t, replayed, user, anon, other, user2, anon2); len(got) != 1 || got[0] != other {
		t.Errorf("replayed from the earliest records, the store mentions %v, want only %s", got, other)
	}
	// The same id forgotten again: nothing left, said so.
	out.Reset()
	errb.Reset()
	c = startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)
	if code := dispatch(ctx, []string{"forget", "--config", cfg, "--wait", "--timeout", "30s", user}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), user+": forgotten before; nothing left to erase") {
		t.Errorf("forget of a forgotten id: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exited %d", code)
	}
	// With no instance running, --wait times out, exit 1.
	out.Reset()
	errb.Reset()
	if code := dispatch(ctx, []string{"forget", "--config", cfg, "--wait", "--timeout", "2s", other}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "not confirmed") {
		t.Errorf("forget --wait with nobody running: exit %d, stderr %q; want 1, not confirmed", code, errb.String())
	}
}

// storeMentions stops c and returns which of ids appear in the state
// store's keys or values, outbox entries aside (a context deletion names
// its id until delivered and dropped: see README, "Privacy").
func storeMentions(t *testing.T, c *child, e *rigEnv, ids ...string) []string {
	t.Helper()
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exited %d", code)
	}
	return scanMentions(t, filepath.Join(e.dir, "state"), ids...)
}

// scanMentions returns which of ids appear in the keys or values of the
// state store in dir, outbox entries aside.
func scanMentions(t *testing.T, dir string, ids ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	eachStored(t, dir, func(k, v []byte) {
		if len(k) > 4 && k[4] == 'q' {
			return
		}
		for _, id := range ids {
			if bytes.Contains(k, []byte(id)) || bytes.Contains(v, []byte(id)) {
				seen[id] = true
			}
		}
	})
	var out []string
	for _, id := range ids {
		if seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// eachStored calls fn with every key and value of the (closed) state
// store in dir, in key order.
func eachStored(t *testing.T, dir string, fn func(k, v []byte)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		fn(it.Key(), it.Value())
	}
}

// forgetConfig writes the forget tests' configuration: event time only, a
// privacy secret, interest emails at 2 views.
func forgetConfig(t *testing.T, e *rigEnv) string {
	t.Helper()
	secret := filepath.Join(e.dir, "forget-secret")
	if err := os.WriteFile(secret, []byte("test secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e.config(t, fmt.Sprintf(`timers:
  idle_advance: 0s
  lateness: 0s
privacy:
  secret_file: %s
processors:
  interest:
    threshold: 2
    target: email
`, secret))
}

// TestForgetNeedsIdentityRouting checks the errors journey forget gives
// before it talks to Kafka: no id, and identity routing off.
func TestForgetNeedsIdentityRouting(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "journey.yaml")
	if err := os.WriteFile(cfg, []byte("kafka:\n  brokers: [127.0.0.1:1]\n  topics: [t]\nidentity:\n  enabled: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"forget", "--config", cfg}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "want at least one customer id") {
		t.Errorf("no id: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := dispatch(context.Background(), []string{"forget", "--config", cfg, "c1"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "identity.enabled") {
		t.Errorf("identity off: exit %d, stderr %q", code, errb.String())
	}
}

// TestForgetSurvivesKill: journey run is killed (SIGKILL) at a different
// moment after each of three forget requests — before its round, during
// it, after it while the Redis erase may be pending — and started again;
// each forget completes: the customer's context hash, trigger-stream
// entry and trigger-id key are gone, its state store holds nothing of it,
// and the customers not forgotten keep theirs.
func TestForgetSurvivesKill(t *testing.T) {
	const parts = 2
	e := newRigEnv(t, parts)
	cfg := e.config(t, `timers:
  idle_advance: 0s
  lateness: 0s
processors:
  interest:
    threshold: 2
    target: email
`)
	users := []string{"u-kill-0", "u-kill-1", "u-kill-2", "u-kill-keep"}
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	var lines []string
	for i, u := range users {
		lines = append(lines,
			anonLine(u, fmt.Sprintf("k%d-id", i), "identify", u, "", "", t0, nil),
			anonLine(u, fmt.Sprintf("k%d-v1", i), "track", u, "", "Product Viewed", t0.Add(time.Minute), map[string]any{"product_id": "p1", "category": "boots"}),
			anonLine(u, fmt.Sprintf("k%d-v2", i), "track", u, "", "Product Viewed", t0.Add(2*time.Minute), map[string]any{"product_id": "p2", "category": "boots"}))
	}
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)
	kcatCRC32(t, e.brokers, e.topic, lines...)
	ctx := context.Background()
	tids := map[string]string{}
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		es, err := e.rdb.XRange(ctx, e.prefix+"triggers:email", "-", "+").Result()
		if err != nil {
			return err
		}
		for _, m := range es {
			tids[m.Values["customer_id"].(string)] = m.Values["id"].(string)
		}
		if len(tids) != len(users) {
			return fmt.Errorf("email triggers for %d of %d customers", len(tids), len(users))
		}
		return nil
	})
	for k, delay := range []time.Duration{0, 30 * time.Millisecond, 300 * time.Millisecond} {
		var out, errb bytes.Buffer
		if code := dispatch(ctx, []string{"forget", "--config", cfg, users[k]}, &out, &errb); code != 0 {
			t.Fatalf("journey forget: exit %d: %s", code, errb.String())
		}
		time.Sleep(delay) // where the kill lands, not a wait for a result
		c.kill()
		c = startChild(t, "run", "--config", cfg)
		c.waitReady(t, time.Minute)
		testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
			for _, key := range []string{"ctx:" + users[k], "tid:" + tids[users[k]]} {
				if n, err := e.rdb.Exists(ctx, e.prefix+key).Result(); err != nil || n != 0 {
					return fmt.Errorf("kill %d: %s of the forgotten customer still exists (%v)", k, strings.SplitN(key, ":", 2)[0], err)
				}
			}
			es, err := e.rdb.XRange(ctx, e.prefix+"triggers:email", "-", "+").Result()
			if err != nil {
				return err
			}
			for _, m := range es {
				if m.Values["customer_id"] == users[k] {
					return fmt.Errorf("kill %d: the forgotten customer's email is still in its stream", k)
				}
			}
			return nil
		})
	}
	settled(t, e, int64(3*len(users)), time.Minute)
	if got := storeMentions(t, c, e, users...); !slices.Equal(got, []string{users[3]}) {
		t.Errorf("after the forgets, the store mentions %v, want only %s", got, users[3])
	}
	for _, u := range users[3:] {
		if n, err := e.rdb.Exists(ctx, e.prefix+"tid:"+tids[u], e.prefix+"ctx:"+u).Result(); err != nil || n != 2 {
			t.Errorf("%s lost its context hash or trigger-id key (%d of 2 exist, %v)", u, n, err)
		}
	}
}

// TestForgetWhileRedisDown is issue 25's erase of a customer whose journey
// is not all in Redis yet: a trigger held by quiet hours, a cart timer, an
// anonymous id merged from another partition, and a context update left
// undelivered in the outbox because Redis is down when the forget comes.
// journey forget --wait does not confirm while Redis is down (the ledger
// entry follows the Redis erase), and does once it is back; nothing of
// the customer reaches Redis; when the next morning's events move the
// partitions' watermarks past the quiet hours, a control customer's held
// trigger is released and the forgotten one's is not (it was erased); the
// store and a restore of the changelog hold nothing of the customer.
func TestForgetWhileRedisDown(t *testing.T) {
	const parts = 4
	rs := testrig.NewRedis(t, t.TempDir())
	e, _ := redisChaosEnv(t, rs, parts)
	cfg := forgetConfig(t, e)
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	// 22:00 in Paris (the events' zone): email is quiet until 08:00.
	t0 := time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	view := func(p string) map[string]any { return map[string]any{"product_id": p, "category": "boots"} }
	victim, control := "u-gone", "u-held"
	anon := apart("anon-gone", victim, parts)
	kcatCRC32(t, e.brokers, e.topic,
		anonLine(anon, "g1", "track", "", anon, "Product Viewed", at(0), view("p1")),
		anonLine(victim, "g2", "identify", victim, anon, "", at(1), nil),
		anonLine(victim, "g3", "track", victim, "", "Product Viewed", at(2), view("p2")),
		anonLine(victim, "g4", "track", victim, "", "Product Added", at(3), map[string]any{"product_id": "p2", "cart_id": "k1"}),
		anonLine(control, "h1", "identify", control, "", "", at(0), nil),
		anonLine(control, "h2", "track", control, "", "Product Viewed", at(1), view("p3")),
		anonLine(control, "h3", "track", control, "", "Product Viewed", at(2), view("p4")),
	)
	ctx := context.Background()
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		a, err1 := e.rdb.HGetAll(ctx, e.prefix+"ctx:"+anon).Result()
		v, err2 := e.rdb.HGetAll(ctx, e.prefix+"ctx:"+victim).Result()
		h, err3 := e.rdb.HGetAll(ctx, e.prefix+"ctx:"+control).Result()
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		if a["merged_into"] != victim || v["cart.open"] == "" || h["interest.top"] == "" {
			return fmt.Errorf("ctx %s=%v, %s=%v, %s=%v: want the merge, the cart and the control's interest", anon, a, victim, v, control, h)
		}
		return nil
	})
	emailsOf := func(id string) (int, error) {
		es, err := e.rdb.XRange(ctx, e.prefix+"triggers:email", "-", "+").Result()
		n := 0
		for _, m := range es {
			if c, _ := m.Values["customer_id"].(string); c == id {
				n++
			}
		}
		return n, err
	}
	for _, id := range []string{victim, control} {
		if n, err := emailsOf(id); err != nil || n != 0 {
			t.Fatalf("%s has %d emails (%v) before the morning: the quiet hours should hold them", id, n, err)
		}
	}

	// Redis goes down; a new view leaves a context update in the outbox.
	rs.Stop()
	kcatCRC32(t, e.brokers, e.topic, anonLine(victim, "g5", "track", victim, "", "Product Viewed", at(5), view("p5")))
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if d, err := outboxDepth(t, c); err != nil || d == 0 {
			return fmt.Errorf("outbox depth %v (%v): want the undelivered update", d, err)
		}
		return nil
	})
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"forget", "--config", cfg, "--wait", "--timeout", "3m", victim}, &out, &errb)
	}()
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if m := c.get(t, "/metrics"); sumMetric(m, "journey_forgotten_total") < 2 {
			return fmt.Errorf("journey_forgotten_total %v: want %s and %s erased from the state", sumMetric(m, "journey_forgotten_total"), victim, anon)
		}
		return nil
	})
	select {
	case code := <-done:
		t.Fatalf("journey forget --wait returned %d while Redis was down (the erase there cannot have happened): %s%s", code, out.String(), errb.String())
	default:
	}
	rs.Start()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), victim+": erased 2 id(s)") {
			t.Fatalf("journey forget --wait: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
		}
	case <-time.After(testrig.Within(2 * time.Minute)):
		t.Fatal("journey forget --wait did not return once Redis was back")
	}
	for _, id := range []string{victim, anon} {
		if n, err := e.rdb.Exists(ctx, e.prefix+"ctx:"+id).Result(); err != nil || n != 0 {
			t.Errorf("ctx:%s exists (%d, %v) once the forget is confirmed", id, n, err)
		}
	}

	// The next morning: events on every partition the two customers fold
	// on move the watermarks past the quiet hours.
	morning := t0.Add(11*time.Hour + 30*time.Minute) // 09:30 in Paris
	var lines []string
	for i, n := 0, 0; n < 3*parts; i++ {
		id := fmt.Sprintf("wake-%d", i)
		if p := javaPartitionOf(id, parts); p == javaPartitionOf(victim, parts) || p == javaPartitionOf(control, parts) || n >= 2 {
			lines = append(lines, anonLine(id, fmt.Sprintf("w%d", i), "track", id, "", "Product Viewed", morning, view("p9")))
			n++
		}
	}
	lines = append(lines, anonLine(victim, "g6", "track", victim, "", "Product Viewed", morning, view("p6")))
	kcatCRC32(t, e.brokers, e.topic, lines...)
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if n, err := emailsOf(control); err != nil || n != 1 {
			return fmt.Errorf("%s has %d emails (%v): want its held one released in the morning", control, n, err)
		}
		return nil
	})
	settled(t, e, int64(8+len(lines)), time.Minute) // 7 records, the view while Redis was down, the morning's
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		if d, err := outboxDepth(t, c); err != nil || d != 0 {
			return fmt.Errorf("outbox depth %v (%v)", d, err)
		}
		return nil
	})
	if n, err := emailsOf(victim); err != nil || n != 0 {
		t.Errorf("%s has %d emails (%v): its held trigger was erased, it must never be sent", victim, n, err)
	}
	for _, id := range []string{victim, anon} {
		if n, err := e.rdb.Exists(ctx, e.prefix+"ctx:"+id).Result(); err != nil || n != 0 {
			t.Errorf("ctx:%s came back (%d, %v)", id, n, err)
		}
	}
	if got := storeMentions(t, c, e, victim, anon, control); len(got) != 1 || got[0] != control {
		t.Errorf("after the forget, the store mentions %v, want only %s", got, control)
	}
	fresh := filepath.Join(e.dir, "restored")
	out.Reset()
	errb.Reset()
	if code := dispatch(ctx, []string{"state", "restore", "--config", cfg, "--state-dir", fresh}, &out, &errb); code != 0 {
		t.Fatalf("journey state restore: exit %d: %s", code, errb.String())
	}
	if got := scanMentions(t, fresh, victim, anon, control); len(got) != 1 || got[0] != control {
		t.Errorf("restored from the changelog, the store mentions %v, want only %s", got, control)
	}
}
