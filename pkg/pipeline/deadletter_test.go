package pipeline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// A dead letter the dead-letter topic's max.message.bytes cannot carry is
// written once, truncated (the value's length and SHA-256 instead of the
// value), and the partition goes on: whether journey knew the limit at
// start ("at start") or the topic's limit was lowered while it ran and
// the broker refused the record ("lowered").
func TestTruncatesDeadLettersOverTheTopicLimit(t *testing.T) {
	for _, lowered := range []bool{false, true} {
		t.Run(map[bool]string{false: "at start", true: "lowered"}[lowered], func(t *testing.T) {
			h := newHarness(t, 1, "")
			limit := kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "20000"}
			if !lowered {
				testrig.CreateTopic(t, h.brokers, h.dlq, 1, limit)
			}
			now := time.Now().Truncate(time.Second)
			good := func(i int) kafka.Message {
				id := fmt.Sprintf("good-%d", i)
				return kafka.Message{Key: []byte("cust-" + id), Value: segment(id, "cust-"+id, "Product Viewed", now)}
			}
			r := h.start(1, "", nil)
			defer r.stop(t)
			if lowered {
				h.produce(good(0)) // journey has read the topic's limit once this triggers
				h.waitTriggers("email", 1, time.Minute)
				alterTopic(t, h.brokers, h.dlq, limit)
			}
			big := append([]byte("not json "), strings.Repeat("x", 50_000)...)
			small := []byte("not json either")
			h.produce(
				kafka.Message{Key: []byte("k"), Value: big, Headers: []kafka.Header{{Key: "trace", Value: []byte("big")}}},
				good(1),
				kafka.Message{Key: []byte("k"), Value: small, Headers: []kafka.Header{{Key: "trace", Value: []byte("small")}}},
				good(2))
			h.waitTriggers("email", map[bool]int{false: 2, true: 3}[lowered], time.Minute)
			testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
				if n := r.counter(t, "journey_dlq_truncated_total", nil); n != 1 {
					return fmt.Errorf("journey_dlq_truncated_total = %v, want 1", n)
				}
				return nil
			})
			r.stop(t)

			got := readAll(t, h.brokers, h.dlq)
			if len(got) != 2 {
				t.Fatalf("%d dead letters, want 2", len(got))
			}
			sum := sha256.Sum256(big)
			for _, m := range got {
				hs := map[string]string{}
				for _, hd := range m.Headers {
					hs[hd.Key] = string(hd.Value)
				}
				switch hs["trace"] {
				case "big":
					want := map[string]string{pipeline.HeaderTruncated: "true", pipeline.HeaderValueBytes: strconv.Itoa(len(big)),
						pipeline.HeaderValueSHA256: hex.EncodeToString(sum[:]), pipeline.HeaderReason: "format_violation",
						pipeline.HeaderSourceTopic: h.topic, pipeline.HeaderSourceOffset: map[bool]string{false: "0", true: "1"}[lowered]}
					for k, v := range want {
						if hs[k] != v {
							t.Errorf("truncated dead letter: header %s = %q, want %q", k, hs[k], v)
						}
					}
					if len(m.Value) != 0 || string(m.Key) != "k" {
						t.Errorf("truncated dead letter: key %q, %d value bytes; want the key, no value", m.Key, len(m.Value))
					}
				case "small":
					if string(m.Value) != string(small) || hs[pipeline.HeaderTruncated] != "" {
						t.Errorf("small dead letter changed: value %q, truncated %q", m.Value, hs[pipeline.HeaderTruncated])
					}
				default:
					t.Errorf("unexpected dead letter, headers %v", hs)
				}
			}
		})
	}
}

// With ingest.dlq_redact a dead letter carries the record's key and
// headers, the reason and source offsets, and the value's length and
// SHA-256 — never the value; it is not counted as truncated.
func TestRedactsDeadLetters(t *testing.T) {
	h := newHarness(t, 1, "")
	r := h.start(1, "", func(c *pipeline.Config) { c.DLQRedact = true })
	defer r.stop(t)
	secret := []byte(`{"type":"track","userId":"jane.doe@example.com","event":`) // malformed: cut short
	now := time.Now().Truncate(time.Second)
	h.produce(kafka.Message{Key: []byte("k-1"), Value: secret, Headers: []kafka.Header{{Key: "trace", Value: []byte("t-1")}}},
		kafka.Message{Key: []byte("cust-ok"), Value: segment("ok-1", "cust-ok", "Product Viewed", now)})
	h.waitTriggers("email", 1, time.Minute)
	var got []kafka.Message
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		got = readAll(t, h.brokers, h.dlq)
		if len(got) != 1 {
			return fmt.Errorf("%d dead letters, want 1", len(got))
		}
		return nil
	})
	r.stop(t)
	m := got[0]
	hs := map[string]string{}
	for _, hd := range m.Headers {
		hs[hd.Key] = string(hd.Value)
	}
	sum := sha256.Sum256(secret)
	want := map[string]string{pipeline.HeaderRedacted: "true", pipeline.HeaderValueBytes: strconv.Itoa(len(secret)),
		pipeline.HeaderValueSHA256: hex.EncodeToString(sum[:]), pipeline.HeaderReason: "format_violation",
		pipeline.HeaderSourceTopic: h.topic, pipeline.HeaderSourceOffset: "0", pipeline.HeaderTruncated: "", "trace": "t-1"}
	for k, v := range want {
		if hs[k] != v {
			t.Errorf("redacted dead letter: header %s = %q, want %q", k, hs[k], v)
		}
	}
	if len(m.Value) != 0 || string(m.Key) != "k-1" {
		t.Errorf("redacted dead letter: key %q, %d value bytes; want the key, no value", m.Key, len(m.Value))
	}
	for _, hd := range m.Headers {
		if strings.Contains(string(hd.Value), "jane.doe") {
			t.Errorf("header %s holds the value's e-mail address", hd.Key)
		}
	}
	if n := r.counter(t, "journey_dlq_truncated_total", nil); n != 0 {
		t.Errorf("journey_dlq_truncated_total = %v, want 0", n)
	}
}

// A dead-letter topic whose max.message.bytes cannot carry even a dead
// letter's headers stops journey at start-up.
func TestRefusesTinyDeadLetterTopic(t *testing.T) {
	h := newHarness(t, 1, "")
	testrig.CreateTopic(t, h.brokers, h.dlq, 1, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "2000"})
	r := h.start(1, "", nil)
	select {
	case err := <-r.done:
		if err == nil || !strings.Contains(err.Error(), "kafka.dlq_topic") || !strings.Contains(err.Error(), "max.message.bytes=2000") {
			t.Fatalf("want a kafka.dlq_topic max.message.bytes error, got %v", err)
		}
	case <-time.After(30 * time.Second):
		r.cancel()
		t.Fatal("pipeline started with a dead-letter topic too small for a dead letter")
	}
	_ = r.store.Close()
}

// alterTopic sets configs on topic and waits until the broker reports them.
func alterTopic(t *testing.T, brokers []string, topic string, configs ...kafka.ConfigEntry) {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	res := kafka.AlterConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}
	for _, e := range configs {
		res.Configs = append(res.Configs, kafka.AlterConfigRequestConfig{Name: e.ConfigName, Value: e.ConfigValue})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{res}})
	if err == nil {
		for _, e := range out.Errors {
			if e != nil {
				err = e
			}
		}
	}
	if err != nil {
		t.Fatalf("alter %s: %v", topic, err)
	}
	testrig.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		d, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{configs[0].ConfigName}}}})
		if err != nil {
			return err
		}
		for _, r := range d.Resources {
			for _, e := range r.ConfigEntries {
				if e.ConfigName == configs[0].ConfigName && e.ConfigValue == configs[0].ConfigValue {
					return nil
				}
			}
		}
		return fmt.Errorf("%s not yet %s", configs[0].ConfigName, configs[0].ConfigValue)
	})
}
