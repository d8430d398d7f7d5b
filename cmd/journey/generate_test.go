package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/generate"
	"github.com/journey-dev/journey/pkg/ingest"
)

var generateReportRe = regexp.MustCompile(`journey generate: (\d+) events in ([0-9.]+)s: ([0-9.]+) events/s \(requested ([0-9.]+)/s\)`)

// TestGenerateAgainstKafka runs `journey generate` against the rig's real
// Kafka: the topic ends up holding exactly the requested number of events
// (counted from its end offsets), every one decodes, each is on the
// partition a Java client would choose for its key, and the report gives
// the achieved rate (logged, not asserted: the machine is shared).
func TestGenerateAgainstKafka(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	topic := fmt.Sprintf("generate-%d", time.Now().UnixNano())
	const partitions, events, rate = 3, 1500, 300
	testrig.CreateTopic(t, brokers, topic, partitions)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	cmd := exec.CommandContext(ctx, journeyBinary(t), "generate", "--brokers", strings.Join(brokers, ","), "--topic", topic,
		"--rate", strconv.Itoa(rate), "--events", strconv.Itoa(events), "--customers", "200", "--seed", "3")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("journey generate: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	wall := time.Since(began)
	m := generateReportRe.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no report in the output:\n%s", stdout.String())
	}
	if m[1] != strconv.Itoa(events) || m[4] != strconv.Itoa(rate) {
		t.Errorf("report %q, want %d events at a requested %d/s", m[0], events, rate)
	}
	t.Logf("requested %d events/s, achieved %s events/s (%s s; %v with start-up)\n%s", rate, m[3], m[2], wall.Round(time.Millisecond), stdout.String())

	// The topic holds exactly the events: its end offsets add up to them.
	client, closeClient := freshClient(brokers, 10*time.Second)
	defer closeClient()
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range reqs {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	res, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	total, ends := int64(0), map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("partition %d: %v", p.Partition, p.Error)
		}
		total += p.LastOffset
		ends[p.Partition] = p.LastOffset
	}
	if total != events {
		t.Fatalf("the topic holds %d records (end offsets %v), want %d", total, ends, events)
	}

	// Every record decodes, keyed and partitioned as a Java client would.
	dec, err := ingest.NewDecoder(ingest.Config{CloudEventTypes: generate.CloudEventTypes()})
	if err != nil {
		t.Fatal(err)
	}
	bal := &kafka.Murmur2Balancer{Consistent: true}
	ids := []int{0, 1, 2}
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for range ends[p] {
			msg, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: %v", p, err)
			}
			rec := ingest.Record{Topic: topic, Partition: p, Offset: msg.Offset, Key: msg.Key, Value: msg.Value, Time: msg.Time}
			for _, h := range msg.Headers {
				rec.Headers = append(rec.Headers, ingest.Header{Key: h.Key, Value: h.Value})
			}
			ev, err := dec.Decode(rec)
			if err != nil {
				t.Fatalf("partition %d offset %d rejected: %v\n%s", p, msg.Offset, err, msg.Value)
			}
			if msg.Key == nil {
				continue // a few records carry no key (journey routes them to their customer)
			}
			if ev.CustomerID != string(msg.Key) {
				t.Fatalf("partition %d offset %d: customer %q keyed %q", p, msg.Offset, ev.CustomerID, msg.Key)
			}
			if want := bal.Balance(msg, ids...); want != p {
				t.Fatalf("key %q is on partition %d, murmur2 says %d", msg.Key, p, want)
			}
		}
		_ = r.Close()
	}
}

// TestGenerateMissingTopic: producing to a topic that does not exist
// fails at once, naming the topic.
func TestGenerateMissingTopic(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := fmt.Sprintf("missing-%d", time.Now().UnixNano())
	out, err := exec.CommandContext(ctx, journeyBinary(t), "generate", "--brokers", strings.Join(brokers, ","),
		"--topic", topic, "--events", "1").CombinedOutput()
	if err == nil {
		t.Fatalf("journey generate succeeded on a missing topic:\n%s", out)
	}
	if !bytes.Contains(out, []byte(`topic "`+topic+`"`)) {
		t.Fatalf("the error does not name the topic:\n%s", out)
	}
}
