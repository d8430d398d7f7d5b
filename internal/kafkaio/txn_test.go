package kafkaio

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap/zaptest"

	"github.com/journey-dev/journey/internal/testrig"
)

// txnProducer is a Java program on Kafka's own client: it writes records
// in transactions (each ended by the broker's commit marker, a control
// batch) as a transactional producer in the field would.
const txnProducer = `import java.util.Properties;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.serialization.StringSerializer;
public class Txn {
  public static void main(String[] a) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", a[0]);
    p.put("transactional.id", a[2]);
    p.put("key.serializer", StringSerializer.class.getName());
    p.put("value.serializer", StringSerializer.class.getName());
    int txns = Integer.parseInt(a[3]), per = Integer.parseInt(a[4]);
    try (KafkaProducer<String, String> pr = new KafkaProducer<>(p)) {
      pr.initTransactions();
      for (int t = 0; t < txns; t++) {
        pr.beginTransaction();
        for (int i = 0; i < per; i++) pr.send(new ProducerRecord<>(a[1], 0, "k", t + "-" + i));
        pr.commitTransaction();
      }
    }
  }
}`

// A partition written by a transactional producer (Kafka's Java client):
// the fetcher hands over every record once, in order, never a commit
// marker; it ends past the final marker rather than fetching it again and
// again; and the last record reads as caught up, so a subscriber (journey's
// worker, with batch.backlog_wait) does not wait for records that will not
// come.
func TestFetcherReadsATransactionalProducer(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	libs := os.Getenv(testrig.EnvKafkaLibs)
	if _, err := exec.LookPath("java"); libs == "" || err != nil {
		msg := "Kafka's Java producer needs " + testrig.EnvKafkaLibs + " (make test sets it) and java"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	topic := fmt.Sprintf("txn-%d", time.Now().UnixNano())
	testrig.CreateTopic(t, brokers, topic, 1)
	src := filepath.Join(t.TempDir(), "Txn.java")
	if err := os.WriteFile(src, []byte(txnProducer), 0o644); err != nil {
		t.Fatal(err)
	}
	const txns, per = 3, 5
	out, err := exec.Command("java", "-cp", filepath.Join(libs, "*"), src, brokers[0], topic, topic,
		fmt.Sprint(txns), fmt.Sprint(per)).CombinedOutput()
	if err != nil {
		t.Fatalf("java transactional producer: %v\n%s", err, out)
	}

	f := NewFetcher(FetcherConfig{Brokers: brokers, MaxBytes: 64 << 10, MaxWait: 100 * time.Millisecond, Log: zaptest.NewLogger(t)})
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs := make(chan kafka.Message, txns*per+1)
	if _, err := f.Subscribe(ctx, topic, 0, 0, recs); err != nil {
		t.Fatal(err)
	}
	var got []kafka.Message
	for len(got) < txns*per {
		select {
		case m := <-recs:
			got = append(got, m)
		case <-ctx.Done():
			t.Fatalf("%d of %d records fetched", len(got), txns*per)
		}
	}
	// Each transaction's records, then its marker: offsets 0-4, 6-10, 12-16.
	for i, m := range got {
		tx, n := i/per, i%per
		if want := int64(tx*(per+1) + n); m.Offset != want || string(m.Value) != fmt.Sprintf("%d-%d", tx, n) {
			t.Fatalf("record %d: offset %d value %q, want offset %d value %q", i, m.Offset, m.Value, want, fmt.Sprintf("%d-%d", tx, n))
		}
	}
	last := got[len(got)-1]
	if last.HighWaterMark > last.Offset+1 {
		// It may have come in a response that ended before the marker:
		// then the next response (the marker alone) moves the position.
		t.Logf("the last record was fetched before its marker (high watermark %d)", last.HighWaterMark)
	}
	end := int64(txns * (per + 1))
	testrig.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		for s := range f.subs {
			if s.next != end {
				return fmt.Errorf("the fetch position is %d, want %d (past the last marker)", s.next, end)
			}
		}
		return nil
	})
	select {
	case m := <-recs:
		t.Fatalf("a record after the last transaction: offset %d value %q", m.Offset, m.Value)
	default:
	}
}
