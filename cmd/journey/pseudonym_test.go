package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/ingest"
)

// TestPseudonymousIDs is issue 25's privacy.pseudonymize_ids on the rig:
// customers whose ids are e-mail addresses and phone numbers browse
// anonymously, log in and view more, their records written by kcat
// (CRC32) so most are forwarded to another partition. Every trigger and
// Redis key carries the pseudonym; no raw id is in the state directory's
// files, the changelog or repartition topic, or Redis; the API, journey
// state get and journey forget take the real id.
func TestPseudonymousIDs(t *testing.T) {
	const parts = 4
	e := newRigEnv(t, parts)
	secretFile := filepath.Join(e.dir, "privacy-secret")
	if err := os.WriteFile(secretFile, []byte("pseudonym test secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := ingest.NewPseudonymizer([]byte("pseudonym test secret\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t, fmt.Sprintf(`timers:
  idle_advance: 0s
  lateness: 0s
privacy:
  secret_file: %s
  pseudonymize_ids: true
processors:
  interest:
    threshold: 3
    target: email
`, secretFile))
	c := startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)

	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	view := func(p string) map[string]any { return map[string]any{"product_id": p, "category": "boots"} }
	users := []string{"jane.doe@example.com", "+33612345678"}
	var raw, anons []string // every raw id (none may be stored); each user's anonymous id
	var lines []string
	for i, user := range users {
		// An anonymous id whose pseudonym lives on another partition than
		// the user's: the merge crosses partitions.
		anon := ""
		for k := 0; anon == ""; k++ {
			if a := fmt.Sprintf("device-%d-%d", i, k); javaPartitionOf(ps.ID(a), parts) != javaPartitionOf(ps.ID(user), parts) {
				anon = a
			}
		}
		raw, anons = append(raw, user, anon), append(anons, anon)
		lines = append(lines,
			anonLine(anon, fmt.Sprintf("v%d-1", i), "track", "", anon, "Product Viewed", at(0), view("p1")),
			anonLine(anon, fmt.Sprintf("v%d-2", i), "track", "", anon, "Product Viewed", at(1), view("p2")),
			anonLine(user, fmt.Sprintf("i%d", i), "identify", user, anon, "", at(2), nil),
		)
	}
	kcatCRC32(t, e.brokers, e.topic, lines...)
	// The merges are asynchronous: the third view once both are merged.
	ctx := context.Background()
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		for i, u := range users {
			code, body := c.apiGet(t, "/v1/customers/"+u, "")
			if code != 200 || !strings.Contains(body, `"`+ps.ID(anons[i])+`"`) {
				return fmt.Errorf("GET user %d: %d, the merged anonymous id not listed yet", i, code)
			}
		}
		return nil
	})
	lines = lines[:0]
	for i, user := range users {
		lines = append(lines, anonLine(user, fmt.Sprintf("v%d-3", i), "track", user, "", "Product Viewed", at(3), view("p3")))
	}
	kcatCRC32(t, e.brokers, e.topic, lines...)

	// One interest email per customer, under its pseudonym.
	testrig.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		es, err := e.rdb.XRange(ctx, e.prefix+"triggers:email", "-", "+").Result()
		if err != nil {
			return err
		}
		got := map[string]int{}
		for _, m := range es {
			got[m.Values["customer_id"].(string)]++
		}
		for _, u := range users {
			if got[ps.ID(u)] != 1 {
				return fmt.Errorf("email triggers by customer %v: want one for each user's pseudonym", got)
			}
		}
		return nil
	})
	settled(t, e, int64(4*len(users)), time.Minute)

	// The API answers for the real id with the pseudonym, and for the pseudonym.
	for _, id := range []string{users[0], ps.ID(users[0])} {
		code, body := c.apiGet(t, "/v1/customers/"+id, "")
		if code != 200 || !strings.Contains(body, `"customer_id": "`+ps.ID(users[0])+`"`) {
			t.Errorf("GET %.12s…: %d %.200s", id, code, body)
		}
	}
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exited %d", code)
	}

	// No raw id anywhere journey writes.
	for _, where := range []struct {
		name string
		data func() ([]byte, error)
	}{
		{"the state directory's files", func() ([]byte, error) { return dirBytes(filepath.Join(e.dir, "state")) }},
		{"the changelog topic", func() ([]byte, error) { return topicBytes(e.brokers, e.group+".changelog", parts) }},
		{"the repartition topic", func() ([]byte, error) { return topicBytes(e.brokers, e.group+".repartition", parts) }},
		{"Redis", func() ([]byte, error) { return redisBytes(ctx, e) }},
	} {
		b, err := where.data()
		if err != nil {
			t.Fatalf("%s: %v", where.name, err)
		}
		if len(b) == 0 {
			t.Fatalf("%s: nothing read: the check would pass vacuously", where.name)
		}
		for i, id := range raw {
			if bytes.Contains(b, []byte(id)) {
				t.Errorf("%s holds raw id #%d", where.name, i)
			}
		}
		if !bytes.Contains(b, []byte(ps.ID(users[0]))) && where.name != "the repartition topic" {
			t.Errorf("%s does not hold the pseudonym either: the scan reads the wrong place", where.name)
		}
	}

	// journey state get and journey forget take the real id.
	code, out := runToExit(t, time.Minute, "state", "get", "--config", cfg, users[1])
	if code != 0 || !strings.Contains(out, ps.ID(users[1])) {
		t.Errorf("journey state get <real id>: exit %d\n%s", code, out)
	}
	c = startChild(t, "run", "--config", cfg)
	c.waitReady(t, time.Minute)
	if code, out := runToExit(t, time.Minute, "forget", "--config", cfg, "--wait", users[1]); code != 0 {
		t.Fatalf("journey forget <real id>: exit %d\n%s", code, out)
	}
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n, err := e.rdb.Exists(ctx, e.prefix+"ctx:"+ps.ID(users[1])).Result(); err != nil || n != 0 {
			return fmt.Errorf("the forgotten customer's context hash still exists (%v)", err)
		}
		if code, _ := c.apiGet(t, "/v1/customers/"+users[1], ""); code != 404 {
			return fmt.Errorf("GET the forgotten customer: %d", code)
		}
		return nil
	})
}

// dirBytes concatenates every file under dir (Pebble's WAL, tables,
// manifest...), as someone reading the disk would see them.
func dirBytes(dir string) ([]byte, error) {
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		all = append(all, b...)
		return err
	})
	return all, err
}

// topicBytes concatenates the keys, values and headers of every record of
// topic.
func topicBytes(brokers []string, topic string, partitions int) ([]byte, error) {
	var all []byte
	for p := range partitions {
		conn, err := kafka.DialLeader(context.Background(), "tcp", brokers[0], topic, p)
		if err != nil {
			return nil, err
		}
		last, err := conn.ReadLastOffset()
		if err != nil {
			conn.Close()
			return nil, err
		}
		first, err := conn.ReadFirstOffset()
		if err != nil {
			conn.Close()
			return nil, err
		}
		conn.Close()
		if last <= first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			r.Close()
			return nil, err
		}
		for off := first; off < last; {
			ctx, cancel := context.WithTimeout(context.Background(), testrig.Within(10*time.Second))
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("partition %d at %d: %w", p, off, err)
			}
			all = append(all, m.Key...)
			all = append(all, m.Value...)
			for _, h := range m.Headers {
				all = append(all, h.Key...)
				all = append(all, h.Value...)
			}
			off = m.Offset + 1
		}
		r.Close()
	}
	return all, nil
}

// redisBytes concatenates the names of every key under the env's prefix
// and the contents of its hashes and streams.
func redisBytes(ctx context.Context, e *rigEnv) ([]byte, error) {
	var all []byte
	iter := e.rdb.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		all = append(all, k...)
		typ, err := e.rdb.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		switch typ {
		case "hash":
			h, err := e.rdb.HGetAll(ctx, k).Result()
			if err != nil {
				return nil, err
			}
			for f, v := range h {
				all = append(all, f+v...)
			}
		case "stream":
			es, err := e.rdb.XRange(ctx, k, "-", "+").Result()
			if err != nil {
				return nil, err
			}
			for _, m := range es {
				all = append(all, fmt.Sprint(m.Values)...)
			}
		case "string":
			v, err := e.rdb.Get(ctx, k).Result()
			if err != nil {
				return nil, err
			}
			all = append(all, v...)
		}
	}
	return all, iter.Err()
}
