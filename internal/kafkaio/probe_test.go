package kafkaio

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
)

func TestProbeBrokersNamesWhatAnswered(t *testing.T) {
	const timeout = 500 * time.Millisecond
	silentAddr, httpAddr, closed := testrig.NewEndpoint(t, testrig.Silent).Addr, testrig.NewEndpoint(t, testrig.HTTPAnswer).Addr, testrig.ClosedPort(t)
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"silent", silentAddr, "kafka.brokers " + silentAddr + ": not a Kafka broker (no ApiVersions answer in 500ms)"},
		{"http", httpAddr, "kafka.brokers " + httpAddr + `: not a Kafka broker (it answered HTTP: "HTTP/1.1 400 Bad Request")`},
		{"closed", closed, "kafka.brokers " + closed + ": connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := ProbeBrokers(context.Background(), "kafka.brokers", []string{tc.addr}, &kafka.Dialer{}, timeout)
			if took := time.Since(start); took > timeout+testrig.Within(2*time.Second) {
				t.Errorf("took %v with a %v timeout", took, timeout)
			}
			var perr *ProbeError
			if !errors.As(err, &perr) || err.Error() != tc.want {
				t.Fatalf("got %v (%T)\nwant %s", err, err, tc.want)
			}
		})
	}
	t.Run("none of several", func(t *testing.T) {
		_, err := ProbeBrokers(context.Background(), "kafka.brokers", []string{closed, silentAddr}, &kafka.Dialer{}, timeout)
		want := "kafka.brokers: no broker answered: " + closed + ": connection refused; " +
			silentAddr + ": not a Kafka broker (no ApiVersions answer in 500ms)"
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
	})
}

// A cancelled context ends a probe of a silent endpoint at once, with the
// context's error.
func TestProbeBrokersHonoursCancellation(t *testing.T) {
	addr := testrig.NewEndpoint(t, testrig.Silent).Addr
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := ProbeBrokers(ctx, "kafka.brokers", []string{addr}, &kafka.Dialer{}, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > testrig.Within(5*time.Second) {
		t.Fatalf("a cancelled probe took %v", took)
	}
}

// The first broker that answers is enough: a dead one before it does not
// fail the probe.
func TestProbeBrokersFirstThatAnswers(t *testing.T) {
	brokers := testrig.KafkaBrokers(t)
	addrs := append([]string{testrig.ClosedPort(t), testrig.NewEndpoint(t, testrig.Silent).Addr}, brokers...)
	got, err := ProbeBrokers(context.Background(), "kafka.brokers", addrs, &kafka.Dialer{}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != brokers[0] && !strings.Contains(strings.Join(brokers, ","), got) {
		t.Fatalf("answered: %s, want one of %v", got, brokers)
	}
}

// The Admin's start-up calls end with its timeout on a silent endpoint,
// and at once when ctx ends.
func TestAdminCallsAreBounded(t *testing.T) {
	addr := testrig.NewEndpoint(t, testrig.Silent).Addr
	a := NewAdmin([]string{addr}, &kafka.Dialer{Timeout: 300 * time.Millisecond}, nil)
	start := time.Now()
	if _, err := a.PartitionCounts(context.Background(), []string{"t"}); err == nil {
		t.Fatal("PartitionCounts of a silent endpoint succeeded")
	}
	if took := time.Since(start); took > testrig.Within(3*time.Second) {
		t.Fatalf("PartitionCounts took %v with a 300ms timeout", took)
	}
	a = NewAdmin([]string{addr}, &kafka.Dialer{Timeout: time.Minute}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if err := a.CreateTopic(ctx, kafka.TopicConfig{Topic: "t", NumPartitions: 1, ReplicationFactor: 1}); err == nil {
		t.Fatal("CreateTopic on a silent endpoint succeeded")
	}
	if took := time.Since(start); took > testrig.Within(3*time.Second) {
		t.Fatalf("a cancelled CreateTopic took %v", took)
	}
}

// Cutting a CuttableDialer ends a request in flight on one of its
// connections at once, and refuses new connections.
func TestCuttableDialer(t *testing.T) {
	addr := testrig.NewEndpoint(t, testrig.Silent).Addr
	d, cut := CuttableDialer(&kafka.Dialer{Timeout: time.Minute})
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	errc := make(chan error, 1)
	go func() { _, err := conn.ApiVersions(); errc <- err }() // the endpoint never answers
	time.AfterFunc(100*time.Millisecond, cut)
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("ApiVersions on a cut connection succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cut did not end the request in flight")
	}
	if _, err := d.DialContext(context.Background(), "tcp", addr); !errors.Is(err, errCut) {
		t.Fatalf("dial after cut: %v, want errCut", err)
	}
}
