package testrig_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
)

// TestKafkaRoundTrip proves the rig with real clients: a topic with 8
// partitions, 10,000 keyed messages placed by the Java-compatible murmur2
// partitioner, and a consumer group that reads every one back exactly once.
func TestKafkaRoundTrip(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	topic := fmt.Sprintf("rig-roundtrip-%d", time.Now().UnixNano())
	const partitions, n = 8, 10_000
	testrig.CreateTopic(t, brokers, topic, partitions)

	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     kafka.Murmur2Balancer{Consistent: true},
		BatchSize:    500,
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(key(i)), Value: []byte(strconv.Itoa(i))}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Read every message back through a consumer group.
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		GroupID:        topic + "-group",
		GroupTopics:    []string{topic},
		StartOffset:    kafka.FirstOffset,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        100 * time.Millisecond,
		CommitInterval: 0, // synchronous commits
	})
	defer r.Close()
	seen := make(map[int]int, n)
	placed := make(map[string]int, n) // key -> partition it landed in
	for len(seen) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume after %d messages: %v", len(seen), err)
		}
		i, err := strconv.Atoi(string(m.Value))
		if err != nil {
			t.Fatalf("bad value %q", m.Value)
		}
		seen[i]++
		if seen[i] > 1 {
			t.Fatalf("message %d delivered twice", i)
		}
		placed[string(m.Key)] = m.Partition
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("message %d seen %d times", i, seen[i])
		}
	}

	// Every partition got a share, and each key sits where Java's default
	// partitioner would put it.
	perPartition := map[int]int{}
	for _, p := range placed {
		perPartition[p]++
	}
	if len(perPartition) != partitions {
		t.Fatalf("keys spread over %d partitions, want %d", len(perPartition), partitions)
	}
	sample := make([]string, 0, 200)
	for i := 0; i < n; i += n / 200 {
		sample = append(sample, key(i))
	}
	want := javaPartitions(t, sample, partitions)
	for i, k := range sample {
		if placed[k] != want[i] {
			t.Errorf("key %q landed in partition %d, the Java partitioner says %d", k, placed[k], want[i])
		}
	}
}

func key(i int) string { return fmt.Sprintf("customer-%d", i) }

// javaPartitions asks Kafka's own Java client code where each key goes.
// It needs the rig's Kafka jars. Without them (never under CI=true) it
// places the keys with kafka-go's partitioner once that has reproduced
// Kafka's published murmur2 vectors (checkMurmur2Vectors).
func javaPartitions(t *testing.T, keys []string, n int) []int {
	t.Helper()
	libs := os.Getenv(testrig.EnvKafkaLibs)
	if libs == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s unset under CI=true: cannot cross-check placement against the Java client", testrig.EnvKafkaLibs)
		}
		t.Logf("%s unset: checking placement against Kafka's published murmur2 vectors, not the Java client", testrig.EnvKafkaLibs)
		checkMurmur2Vectors(t)
		out := make([]int, len(keys))
		for i, k := range keys {
			out[i] = (&kafka.Murmur2Balancer{Consistent: true}).Balance(kafka.Message{Key: []byte(k)}, seq(n)...)
		}
		return out
	}
	src := filepath.Join(t.TempDir(), "Partition.java")
	code := `import org.apache.kafka.common.utils.Utils;
public class Partition {
  public static void main(String[] a) {
    int n = Integer.parseInt(a[0]);
    for (int i = 1; i < a.length; i++)
      System.out.println(Utils.toPositive(Utils.murmur2(a[i].getBytes(java.nio.charset.StandardCharsets.UTF_8))) % n);
  }
}`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-cp", filepath.Join(libs, "*"), src, strconv.Itoa(n)}, keys...)
	out, err := exec.Command("java", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("java partitioner: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(keys) {
		t.Fatalf("java printed %d lines for %d keys:\n%s", len(lines), len(keys), out)
	}
	res := make([]int, len(lines))
	for i, l := range lines {
		res[i], err = strconv.Atoi(l)
		if err != nil {
			t.Fatalf("java output %q: %v", l, err)
		}
	}
	return res
}

// murmur2Vectors are Kafka's own test vectors (UtilsTest.testMurmur2, as
// bench/peers/goka checks them): Utils.murmur2 of each key.
var murmur2Vectors = map[string]int32{
	"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
	"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
	"abc": 479470107,
}

// TestMurmur2Vectors needs no services: kafka-go's partitioner reproduces
// Kafka's published murmur2 vectors.
func TestMurmur2Vectors(t *testing.T) { checkMurmur2Vectors(t) }

// checkMurmur2Vectors checks that kafka-go's Murmur2Balancer places each
// vector key where Java's default partitioner does: toPositive(murmur2) % n.
// The balancer shows the hash only modulo a partition count, so it is asked
// with 65,536 and 65,535 partitions: coprime counts whose product exceeds
// 2^31 pin the whole 31-bit value (Chinese remainder theorem); then with the
// small counts topics have.
func checkMurmur2Vectors(t *testing.T) {
	t.Helper()
	for key, h := range murmur2Vectors {
		positive := int(uint32(h) & 0x7fffffff)
		for _, n := range []int{65536, 65535, 8, 7, 3} {
			got := (&kafka.Murmur2Balancer{Consistent: true}).Balance(kafka.Message{Key: []byte(key)}, seq(n)...)
			if want := positive % n; got != want {
				t.Errorf("kafka-go places %q in partition %d of %d, Kafka's murmur2 vector says %d", key, got, n, want)
			}
		}
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestRedisStreamRoundTrip: XADD, XREADGROUP and XACK against the real Redis.
func TestRedisStreamRoundTrip(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testrig.RedisAddr(t)})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream := fmt.Sprintf("rig:test:%d", time.Now().UnixNano())
	defer c.Del(context.Background(), stream)

	if err := c.XGroupCreateMkStream(ctx, stream, "readers", "0").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 100
	ids := make([]string, n)
	for i := range n {
		id, err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"i": i}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	// Two consumers share the group; together they see each entry once.
	var mu sync.Mutex
	got := map[string]string{}
	var wg sync.WaitGroup
	for _, consumer := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{
					Group: "readers", Consumer: consumer, Streams: []string{stream, ">"}, Count: 7, Block: 50 * time.Millisecond,
				}).Result()
				if errors.Is(err, redis.Nil) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range res[0].Messages {
					mu.Lock()
					if prev, dup := got[m.ID]; dup {
						t.Errorf("entry %s read by %s and %s", m.ID, prev, consumer)
					}
					got[m.ID] = consumer
					mu.Unlock()
					if err := c.XAck(ctx, stream, "readers", m.ID).Err(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("read %d entries, want %d", len(got), n)
	}
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			t.Fatalf("entry %s never read", id)
		}
	}
	pending, err := c.XPending(ctx, stream, "readers").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Count != 0 {
		t.Fatalf("%d entries still pending after XACK", pending.Count)
	}
}
