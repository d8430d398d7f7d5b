package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// Helpers of the chaos scenarios whose records end in the dead-letter
// topic (chaos_poison_test.go, chaos_malformed_test.go).

var (
	faultsBinOnce sync.Once
	faultsBinPath string
	faultsBinErr  error
)

// journeyFaultsBinary builds journey with the fault injector of poison
// events (`-tags journeyfaults`, pkg/journey/faults_journeyfaults.go), once
// per test run. journeyBinary is the production build, without it.
func journeyFaultsBinary(t *testing.T) string {
	t.Helper()
	faultsBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "journey-faults-bin-")
		if err != nil {
			faultsBinErr = err
			return
		}
		faultsBinPath = filepath.Join(dir, "journey")
		out, err := exec.Command("go", "build", "-tags", "journeyfaults", "-o", faultsBinPath, ".").CombinedOutput()
		if err != nil {
			faultsBinErr = fmt.Errorf("go build -tags journeyfaults: %v\n%s", err, out)
		}
	})
	if faultsBinErr != nil {
		t.Fatal(faultsBinErr)
	}
	return faultsBinPath
}

// deadLetter is one record of the dead-letter topic.
type deadLetter struct {
	reason, message string
	headers         map[string]string
	value           []byte
}

func topicPartitions(brokers []string, topic string) ([]int, error) {
	client, closeClient := freshClient(brokers, 5*time.Second)
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	var parts []int
	for _, tp := range md.Topics {
		if tp.Error != nil {
			return nil, nil // not created yet
		}
		for _, p := range tp.Partitions {
			parts = append(parts, p.ID)
		}
	}
	return parts, nil
}

// deadLetters reads every record of the dead-letter topic.
func (e *rigEnv) deadLetters(t *testing.T) []deadLetter {
	t.Helper()
	parts, err := topicPartitions(e.brokers, e.dlq)
	if err != nil {
		t.Fatal(err)
	}
	var out []deadLetter
	for _, p := range parts {
		conn, err := kafka.DialLeader(context.Background(), "tcp", e.brokers[0], e.dlq, p)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := conn.ReadOffsets()
		_ = conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.brokers, Topic: e.dlq, Partition: p, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(first); err != nil {
			t.Fatal(err)
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), testrig.Within(30*time.Second))
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				_ = r.Close()
				t.Fatalf("dead-letter topic partition %d at %d of %d: %v", p, len(out), last, err)
			}
			d := deadLetter{headers: map[string]string{}, value: m.Value}
			for _, h := range m.Headers {
				d.headers[h.Key] = string(h.Value)
			}
			d.reason, d.message = d.headers[pipeline.HeaderReason], d.headers[pipeline.HeaderMessage]
			out = append(out, d)
			if m.Offset >= last-1 {
				break
			}
		}
		_ = r.Close()
	}
	return out
}

// dlqMetric returns journey_dlq_total's series by reason, from a /metrics
// text.
func dlqMetric(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "journey_dlq_total{") {
			continue
		}
		_, rest, ok := strings.Cut(line, `reason="`)
		if !ok {
			continue
		}
		reason, _, _ := strings.Cut(rest, `"`)
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			out[reason] += v
		}
	}
	return out
}

// foldOutcome settles a run that was fed want records, waits for the
// expected triggers, stops it (it must still be the one process started,
// exiting 0), and counts what it folded and delivered against the
// reference: lost, duplicated and unexpected triggers, state mismatches.
// metrics is /metrics read just before the stop.
func foldOutcome(t *testing.T, e *rigEnv, c *child, records int64, procYAML string,
	wantStates map[string]map[string]string, wantTriggers map[string]bool) (row chaosRow, metrics string) {
	t.Helper()
	settled(t, e, records, chaosSize(2*time.Minute, 10*time.Minute))
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		got, err := e.triggerIDs()
		if err != nil {
			return err
		}
		if len(got) < len(wantTriggers) {
			return fmt.Errorf("%d of %d triggers delivered", len(got), len(wantTriggers))
		}
		return nil
	})
	select {
	case <-c.done:
		t.Fatalf("journey exited on its own:\n%s", c.tail(40))
	default:
	}
	metrics = c.get(t, "/metrics")
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, c.tail(40))
	}
	got, err := e.triggerIDs()
	if err != nil {
		t.Fatal(err)
	}
	row.Triggers = len(wantTriggers)
	row.Lost, row.Duplicated, row.Unexpected = triggerOutcome(wantTriggers, got)
	var some []string
	row.Mismatches, some = stateMismatches(wantStates, dumpStates(t, filepath.Join(e.dir, "state"), e.parts, procYAML))
	if row.Lost+row.Duplicated+row.Unexpected+row.Mismatches > 0 {
		t.Errorf("lost %d, duplicated %d, unexpected %d triggers (of %d); %d customers' state differs from the reference fold (e.g. %v)",
			row.Lost, row.Duplicated, row.Unexpected, row.Triggers, row.Mismatches, some)
	}
	return row, metrics
}
