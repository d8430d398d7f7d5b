package testrig

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// EnvKafkaLibs is where `make test` left Apache Kafka's jars.
const EnvKafkaLibs = "JOURNEY_TEST_KAFKA_LIBS"

// StartCluster starts a Kafka cluster of its own with n brokers (node 1 is
// also the KRaft controller) from the jars in JOURNEY_TEST_KAFKA_LIBS, on
// loopback, for a test that needs partitions led by different brokers; it
// is stopped when the test ends. Its own, not the rig's: a broker that
// joined the shared cluster would receive other tests' partitions. Skipped
// (failed under CI=true) without the jars or java.
func StartCluster(t testing.TB, n int) []string {
	t.Helper()
	return NewCluster(t, n).Brokers
}

// Cluster is a Kafka cluster of a test's own (NewCluster).
type Cluster struct {
	// Brokers are the brokers' addresses, node i+1 at Brokers[i].
	Brokers []string
	procs   []*exec.Cmd
	// starts[i] starts node i+1 again on its data (Start).
	starts []func() (*exec.Cmd, error)
}

// Stop kills node (1..n, the controller included) at once, as a crash
// would (SIGKILL), and waits for it to exit; Start starts it again on the
// same data: a broker restart, or an outage as long as the test waits
// between the two.
func (c *Cluster) Stop(t testing.TB, node int) {
	t.Helper()
	p := c.procs[node-1]
	if p == nil {
		return
	}
	_ = p.Process.Kill()
	_ = p.Wait()
	c.procs[node-1] = nil
}

// Start starts a stopped node again on its data (Stop) and waits until it
// answers with the cluster's metadata.
func (c *Cluster) Start(t testing.TB, node int) {
	t.Helper()
	if c.procs[node-1] != nil {
		t.Fatalf("testrig: node %d is running", node)
	}
	p, err := c.starts[node-1]()
	if err != nil {
		t.Fatalf("testrig: start node %d: %v", node, err)
	}
	c.procs[node-1] = p
	deadline := time.Now().Add(2 * time.Minute)
	kc := &kafka.Client{Addr: kafka.TCP(c.Brokers[node-1]), Timeout: 5 * time.Second, Transport: &kafka.Transport{}}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := kc.Metadata(ctx, &kafka.MetadataRequest{})
		cancel()
		if err == nil && len(md.Brokers) == len(c.Brokers) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testrig: node %d not ready 2m after its start: %v", node, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Kill stops node (1..n) at once, as a crash would (SIGKILL). Node 1 is
// the controller: kill another. The brokers notice within ~3 s
// (broker.session.timeout.ms) and move its partitions' leadership to
// in-sync replicas elsewhere.
func (c *Cluster) Kill(t testing.TB, node int) {
	t.Helper()
	if node < 2 || node > len(c.procs) {
		t.Fatalf("testrig: kill node %d of %d (node 1 is the controller)", node, len(c.procs))
	}
	p := c.procs[node-1]
	if err := p.Process.Kill(); err != nil {
		t.Fatalf("testrig: kill node %d: %v", node, err)
	}
}

// NewCluster is StartCluster, with the handle to kill a broker.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped in -short mode (make test-unit); run `make test`")
	}
	libs := os.Getenv(EnvKafkaLibs)
	java, jerr := exec.LookPath("java")
	if libs == "" || jerr != nil {
		msg := fmt.Sprintf("a Kafka cluster needs %s (make test sets it) and java", EnvKafkaLibs)
		if os.Getenv("CI") == "true" {
			t.Fatal("testrig: " + msg)
		}
		t.Skip(msg)
	}
	ports := make([]int, n+1) // brokers, then the controller
	var ls []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		ls = append(ls, l)
	}
	for _, l := range ls { // held together so that they differ; freed for Kafka
		_ = l.Close()
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	raw[0] &= 0x7f // never a leading '-' in base64, which the tool would take for a flag
	cluster := base64.RawURLEncoding.EncodeToString(raw[:])
	ctl := ports[n]
	root := t.TempDir()
	var brokers []string
	c := &Cluster{}
	t.Cleanup(func() {
		for _, p := range c.procs {
			if p != nil {
				_ = p.Process.Kill()
				_ = p.Wait()
			}
		}
	})
	for i := range n {
		id := i + 1
		dir := filepath.Join(root, strconv.Itoa(id))
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		roles, listeners := "broker", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", ports[i])
		if id == 1 {
			roles, listeners = "broker,controller", listeners+fmt.Sprintf(",CONTROLLER://127.0.0.1:%d", ctl)
		}
		props := fmt.Sprintf(`process.roles=%s
node.id=%d
controller.quorum.voters=1@127.0.0.1:%d
listeners=%s
advertised.listeners=PLAINTEXT://127.0.0.1:%d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=%s
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
num.network.threads=1
num.io.threads=2
log.cleaner.enable=false
`, roles, id, ctl, listeners, ports[i], filepath.Join(dir, "data"))
		cfg := filepath.Join(dir, "server.properties")
		if err := os.WriteFile(cfg, []byte(props), 0o644); err != nil {
			t.Fatal(err)
		}
		base := []string{"-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
			"-Dlog4j.configuration=file:/dev/null", "-cp", filepath.Join(libs, "*")}
		format := exec.Command(java, append(append([]string{}, base...), "kafka.tools.StorageTool", "format", "-t", cluster, "-c", cfg)...)
		if out, err := format.CombinedOutput(); err != nil {
			t.Fatalf("testrig: format node %d: %v\n%s", id, err, out)
		}
		start := func() (*exec.Cmd, error) {
			logf, err := os.OpenFile(filepath.Join(dir, "out.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, err
			}
			p := exec.Command(java, append(slices.Clone(base), "kafka.Kafka", cfg)...)
			p.Stdout, p.Stderr = logf, logf
			return p, p.Start()
		}
		p, err := start()
		if err != nil {
			t.Fatal(err)
		}
		c.procs = append(c.procs, p)
		c.starts = append(c.starts, start)
		brokers = append(brokers, fmt.Sprintf("127.0.0.1:%d", ports[i]))
	}
	// Ready when the metadata lists every broker.
	deadline := time.Now().Add(2 * time.Minute)
	kc := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: &kafka.Transport{}}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := kc.Metadata(ctx, &kafka.MetadataRequest{})
		cancel()
		if err == nil && len(md.Brokers) == n {
			c.Brokers = brokers
			return c
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(root, "1", "out.log"))
			t.Fatalf("testrig: %d-broker cluster not ready after 2m (metadata: %v)\n%s", n, err, tail(string(out), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
