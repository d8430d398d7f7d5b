package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/internal/testrig"
)

// topicLine reports whether out has the table line of topic: role,
// partitions, status, spaces aside.
func topicLine(out, topic, role, partitions, status string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join([]string{topic, role, partitions, status}, " ") {
			return true
		}
	}
	return false
}

// TestTopicsCreateThenRun follows the newcomer's path: the brokers from
// JOURNEY_BROKERS (as a sourced .rig/env sets it), `journey topics create`
// creates every topic, a second run creates nothing, and `journey run`
// starts on what it created (its changelog check accepts the changelog).
func TestTopicsCreateThenRun(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	redisAddr := testrig.RedisAddr(t)
	id := fmt.Sprintf("topics-cmd-%d", time.Now().UnixNano())
	in1, in2, dlq, group := id+".a", id+".b", id+".dlq", id+"-g"
	t.Setenv("JOURNEY_BROKERS", strings.Join(brokers, ","))
	t.Setenv("JOURNEY_REDIS_ADDR", redisAddr)
	args := []string{"topics", "create", "--topics", in1 + "," + in2, "--group-id", group, "--dlq-topic", dlq, "--partitions", "2"}

	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("topics create: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, tc := range [][2]string{{in1, "input"}, {in2, "input"}, {dlq, "dead-letter"}, {group + ".changelog", "changelog"}} {
		if !topicLine(out.String(), tc[0], tc[1], "2", "created") {
			t.Errorf("topics create does not report %s (%s) created with 2 partitions:\n%s", tc[0], tc[1], out.String())
		}
	}

	out.Reset()
	errb.Reset()
	if code := dispatch(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("topics create again: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !topicLine(out.String(), in1, "input", "2", "exists") || !strings.Contains(out.String(), "nothing created") {
		t.Errorf("topics create again does not say the topics exist:\n%s", out.String())
	}

	out.Reset()
	errb.Reset()
	check := []string{"topics", "check", "--topics", in1 + "," + in2, "--group-id", group, "--dlq-topic", dlq}
	if code := dispatch(context.Background(), check, &out, &errb); code != 0 {
		t.Fatalf("topics check: exit %d\n%s%s", code, out.String(), errb.String())
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "journey.yaml")
	yaml := fmt.Sprintf("kafka:\n  group_id: %s\n  topics: [%s, %s]\n  dlq_topic: %s\n  session_timeout: 6s\n"+
		"state:\n  dir: %s\nredis:\n  prefix: \"jt:%s:\"\nadmin:\n  addr: 127.0.0.1:0\n",
		group, in1, in2, dlq, filepath.Join(dir, "state"), id)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "run", "--config", cfg) // the child inherits JOURNEY_BROKERS and JOURNEY_REDIS_ADDR
	c.waitReady(t, 90*time.Second)
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run exited %d:\n%s", code, c.tail(30))
	}
	if strings.Contains(c.output(), "created changelog topic") || strings.Contains(c.output(), "created dead-letter topic") {
		t.Errorf("journey run created a topic that journey topics create had created:\n%s", c.tail(30))
	}
}

// TestTopicsCreateRefusesMismatch: input topics of different partition
// counts are refused with each topic's count, exit 1, nothing created.
func TestTopicsCreateRefusesMismatch(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	id := fmt.Sprintf("topics-cmd-mismatch-%d", time.Now().UnixNano())
	testrig.CreateTopic(t, brokers, id+".a", 2)
	testrig.CreateTopic(t, brokers, id+".b", 3)
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"topics", "create", "--brokers", strings.Join(brokers, ","),
		"--topics", id + ".a," + id + ".b", "--group-id", id, "--dlq-topic", id + ".dlq"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	msg := errb.String()
	if !strings.Contains(msg, "kafka.topics: not co-partitioned") ||
		!strings.Contains(msg, id+".a  ") || !strings.Contains(msg, "2 partitions") ||
		!strings.Contains(msg, id+".b  ") || !strings.Contains(msg, "3 partitions") {
		t.Fatalf("the error does not name each topic with its count:\n%s", msg)
	}

	out.Reset()
	errb.Reset()
	code = dispatch(context.Background(), []string{"topics", "check", "--brokers", strings.Join(brokers, ","),
		"--topics", id + ".a," + id + ".b", "--group-id", id, "--dlq-topic", id + ".dlq"}, &out, &errb)
	if code != 1 || !topicLine(out.String(), id+".dlq", "dead-letter", "-", "missing") {
		t.Fatalf("topics check: exit %d, want 1 and the dead-letter topic still missing:\n%s%s", code, out.String(), errb.String())
	}
}

func TestTopicsUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"topics"}, 2, "missing subcommand: create or check\nrun 'journey topics -h' for help"},
		{[]string{"topics", "nope"}, 2, `unknown subcommand "nope"`},
		{[]string{"topics", "-h"}, 0, "Subcommands:"},
		{[]string{"topics", "create", "-h"}, 0, "-partitions"},
		{[]string{"topics", "check", "-h"}, 0, "-brokers"},
	} {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("%q: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, out.String(), errb.String())
		}
	}
}
