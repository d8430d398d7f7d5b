package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/embedded"
)

func start(t *testing.T, topics ...embedded.Topic) *embedded.Services {
	t.Helper()
	s, err := embedded.Start(embedded.Config{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestKafkaGoOnEmbeddedBroker pins what journey's Kafka client, kafka-go,
// needs from the in-process broker: metadata and the controller, topic
// creation, a Writer with acks=all and the murmur2 balancer, ListOffsets, a
// consumer group with the range balancer, partition readers with headers,
// offset commits and fetches, and leaving the group.
func TestKafkaGoOnEmbeddedBroker(t *testing.T) {
	s := start(t, embedded.Topic{Name: "in", Partitions: 3})
	addr := s.KafkaAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := kafka.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions("in")
	if err != nil || len(parts) != 3 {
		t.Fatalf("ReadPartitions: %d partitions, %v", len(parts), err)
	}
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := kafka.Dial("tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: "dlq", NumPartitions: 3, ReplicationFactor: -1}); err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}

	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: "in", Balancer: &kafka.Murmur2Balancer{Consistent: true},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	const n = 60
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "cust-%d", i), Value: []byte(`{}`), Headers: []kafka.Header{{Key: "ce_id", Value: []byte("x")}}}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		"in": {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	var total int64
	ends := map[int]int64{} // the response lists partitions in no particular order
	for _, p := range lo.Topics["in"] {
		total += p.LastOffset
		ends[p.Partition] = p.LastOffset
	}
	if total != n {
		t.Fatalf("end offsets add up to %d, want %d", total, n)
	}

	g, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: "g", Brokers: []string{addr}, Topics: []string{"in"}, GroupBalancers: []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		SessionTimeout: 6 * time.Second, HeartbeatInterval: time.Second, RebalanceTimeout: 10 * time.Second,
		JoinGroupBackoff: 100 * time.Millisecond, StartOffset: kafka.FirstOffset,
	})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := g.Next(ctx)
	if err != nil {
		t.Fatalf("join group: %v", err)
	}
	if got := len(gen.Assignments["in"]); got != 3 {
		t.Fatalf("assigned %d partitions, want 3", got)
	}
	read := 0
	commits := map[int]int64{}
	for _, a := range gen.Assignments["in"] {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: "in", Partition: a.ID, MaxWait: 50 * time.Millisecond})
		for range ends[a.ID] {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: %v", a.ID, err)
			}
			if len(m.Headers) != 1 || string(m.Headers[0].Value) != "x" {
				t.Fatalf("headers %v", m.Headers)
			}
			read++
			commits[a.ID] = m.Offset + 1
		}
		_ = r.Close()
	}
	if read != n {
		t.Fatalf("read %d, want %d", read, n)
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{"in": commits}); err != nil {
		t.Fatalf("CommitOffsets: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("leave group: %v", err)
	}
	// A new member of the group gets the committed offsets.
	g2, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: "g", Brokers: []string{addr}, Topics: []string{"in"}, GroupBalancers: []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	gen2, err := g2.Next(ctx)
	if err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	for _, a := range gen2.Assignments["in"] {
		if a.Offset != commits[a.ID] {
			t.Errorf("partition %d: committed offset %d, want %d", a.ID, a.Offset, commits[a.ID])
		}
	}
}

func TestRedis(t *testing.T) {
	s := start(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.RedisAddr()})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestPortInUse: a taken port fails Start with an error naming the setting
// and the port.
func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, cfg := range []embedded.Config{
		{KafkaPort: port, KafkaFlag: "--kafka-port"},
		{RedisPort: port, RedisFlag: "--redis-port"},
	} {
		s, err := embedded.Start(cfg)
		if err == nil {
			s.Close()
			t.Fatalf("Start(%+v) succeeded on a taken port", cfg)
		}
		want := fmt.Sprintf("%s%s %d", cfg.KafkaFlag, cfg.RedisFlag, port)
		if !errors.Is(err, embedded.ErrPortInUse) || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q: want ErrPortInUse naming %q", err, want)
		}
	}
}
