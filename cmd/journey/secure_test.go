package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
)

// secureEnv is one test's slice of the rig's secure endpoints: journey
// connects to the SASL_SSL listener as the SCRAM user and to Redis's TLS
// port as the restricted ACL user; the test itself reads and writes
// through the plaintext endpoints (as a super user).
type secureEnv struct {
	*rigEnv
	sec testrig.Secure
}

func newSecureEnv(t *testing.T) *secureEnv {
	t.Helper()
	sec := testrig.SecureRig(t)
	e := newRigEnv(t, 2)
	// The ACL user may only touch keys under the rig's prefix.
	e.prefix = sec.RedisPrefix + strings.ReplaceAll(e.topic, "/", "-") + ":"
	return &secureEnv{rigEnv: e, sec: sec}
}

// grant gives the SASL user exactly the ACLs the README lists for
// journey run: the input topics, the changelog, repartition, forget ledger and dead-letter topics,
// the group, and the cluster's configuration.
func (e *secureEnv) grant(t *testing.T) {
	t.Helper()
	topic, group := kafka.ResourceTypeTopic, kafka.ResourceTypeGroup
	changelog, repartition, ledger := e.group+".changelog", e.group+".repartition", e.group+".forgotten"
	testrig.GrantACLs(t, e.brokers, e.sec.KafkaUser,
		testrig.ACL{Resource: topic, Name: e.topic, Operation: kafka.ACLOperationTypeRead},
		testrig.ACL{Resource: topic, Name: e.topic, Operation: kafka.ACLOperationTypeDescribe},
		testrig.ACL{Resource: topic, Name: e.dlq, Operation: kafka.ACLOperationTypeCreate},
		testrig.ACL{Resource: topic, Name: e.dlq, Operation: kafka.ACLOperationTypeWrite},
		testrig.ACL{Resource: topic, Name: e.dlq, Operation: kafka.ACLOperationTypeDescribe},
		testrig.ACL{Resource: topic, Name: e.dlq, Operation: kafka.ACLOperationTypeDescribeConfigs},
		testrig.ACL{Resource: topic, Name: changelog, Operation: kafka.ACLOperationTypeCreate},
		testrig.ACL{Resource: topic, Name: changelog, Operation: kafka.ACLOperationTypeRead},
		testrig.ACL{Resource: topic, Name: changelog, Operation: kafka.ACLOperationTypeWrite},
		testrig.ACL{Resource: topic, Name: changelog, Operation: kafka.ACLOperationTypeDescribe},
		testrig.ACL{Resource: topic, Name: changelog, Operation: kafka.ACLOperationTypeDescribeConfigs},
		testrig.ACL{Resource: topic, Name: repartition, Operation: kafka.ACLOperationTypeCreate},
		testrig.ACL{Resource: topic, Name: repartition, Operation: kafka.ACLOperationTypeRead},
		testrig.ACL{Resource: topic, Name: repartition, Operation: kafka.ACLOperationTypeWrite},
		testrig.ACL{Resource: topic, Name: repartition, Operation: kafka.ACLOperationTypeDescribe},
		testrig.ACL{Resource: topic, Name: ledger, Operation: kafka.ACLOperationTypeCreate},
		testrig.ACL{Resource: topic, Name: ledger, Operation: kafka.ACLOperationTypeRead},
		testrig.ACL{Resource: topic, Name: ledger, Operation: kafka.ACLOperationTypeWrite},
		testrig.ACL{Resource: topic, Name: ledger, Operation: kafka.ACLOperationTypeDescribe},
		testrig.ACL{Resource: group, Name: e.group, Operation: kafka.ACLOperationTypeRead},
		testrig.ACL{Resource: kafka.ResourceTypeCluster, Name: "kafka-cluster", Operation: kafka.ACLOperationTypeDescribeConfigs},
	)
}

// config writes journey's configuration for the secure endpoints; mod
// changes the security settings (a wrong CA, no TLS...) before.
func (e *secureEnv) config(t *testing.T, mod func(*secureSettings)) string {
	t.Helper()
	s := secureSettings{
		brokers: strings.Join(e.sec.KafkaBrokers, ","), kafkaTLS: true, kafkaCA: e.sec.CAFile,
		mechanism: e.sec.KafkaMechanism, kafkaUser: e.sec.KafkaUser, kafkaPasswordFile: e.sec.KafkaPasswordFile,
		redis: e.sec.RedisAddr, redisTLS: true, redisCA: e.sec.CAFile, redisUser: e.sec.RedisUser,
		redisPasswordFile: e.sec.RedisPasswordFile,
		kafkaCert:         e.sec.ClientCertFile, kafkaKey: e.sec.ClientKeyFile,
		redisCert: e.sec.ClientCertFile, redisKey: e.sec.ClientKeyFile,
	}
	if mod != nil {
		mod(&s)
	}
	kafkaSec, redisSec := "", ""
	if s.kafkaTLS {
		kafkaSec += fmt.Sprintf("  tls:\n    enabled: true\n    ca_file: %s\n", s.kafkaCA)
		if s.kafkaCert != "" {
			kafkaSec += fmt.Sprintf("    cert_file: %s\n    key_file: %s\n", s.kafkaCert, s.kafkaKey)
		}
	}
	if s.mechanism != "" {
		kafkaSec += fmt.Sprintf("  sasl:\n    mechanism: %s\n    username: %s\n    password_file: %s\n",
			s.mechanism, s.kafkaUser, s.kafkaPasswordFile)
	}
	if s.redisTLS {
		redisSec += fmt.Sprintf("  tls:\n    enabled: true\n    ca_file: %s\n", s.redisCA)
		if s.redisCert != "" {
			redisSec += fmt.Sprintf("    cert_file: %s\n    key_file: %s\n", s.redisCert, s.redisKey)
		}
	}
	if s.redisUser != "" {
		redisSec += fmt.Sprintf("  username: %s\n  password_file: %s\n", s.redisUser, s.redisPasswordFile)
	}
	adminSec := ""
	if s.adminTokenFile != "" {
		adminSec = "  token_file: " + s.adminTokenFile + "\n"
	}
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: %s
  topics: [%s]
  dlq_topic: %s
  session_timeout: 6s
  dial_timeout: %s
%sbatch:
  commit_interval: 100ms
state:
  dir: %s
redis:
  addr: %s
  prefix: "%s"
%sadmin:
  addr: 127.0.0.1:0
%slog:
  level: debug
processors:
  interest:
    threshold: 2
    target: email
  policy:
    quiet_hours:
      channels: []
`, s.brokers, e.group, e.topic, e.dlq, secureDialTimeout, kafkaSec, filepath.Join(e.dir, "state"), s.redis, e.prefix,
		redisSec, adminSec)
	path := filepath.Join(e.dir, "secure.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const secureDialTimeout = 3 * time.Second

type secureSettings struct {
	brokers                               string
	kafkaTLS                              bool
	kafkaCA, mechanism, kafkaUser         string
	kafkaPasswordFile                     string
	redis                                 string
	redisTLS                              bool
	redisCA, redisUser, redisPasswordFile string
	adminTokenFile                        string
	// Client certificates (mutual TLS), "" for none.
	kafkaCert, kafkaKey, redisCert, redisKey string
}

// noSecret fails t when text holds one of the passwords.
func noSecret(t *testing.T, where, text string, passwords ...string) {
	t.Helper()
	for _, p := range passwords {
		if p != "" && strings.Contains(text, p) {
			t.Errorf("%s holds a password (%d characters)", where, len(p))
		}
	}
}

// journey run end to end over SASL_SSL Kafka (SCRAM-SHA-512, the ACLs the
// README lists and no more) and TLS Redis (the README's ACL user), both
// with a client certificate the servers check (mutual TLS): events
// in, triggers out, the changelog and the dead-letter topic written; no
// password in its log or /metrics.
func TestSecureEndToEnd(t *testing.T) {
	e := newSecureEnv(t)
	e.grant(t)
	tokenFile := filepath.Join(e.dir, "admin-token")
	const token = "admin-token-5c1d"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "run", "--config", e.config(t, func(s *secureSettings) { s.adminTokenFile = tokenFile }))

	at := time.Now().Add(-10 * time.Minute).UTC()
	ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339Nano) }
	view := func(id, user, product string, d time.Duration) string {
		return user + `|{"type":"track","messageId":"` + id + `","userId":"` + user + `","event":"Product Viewed","timestamp":"` + ts(d) +
			`","context":{"channel":"web","consent":{"email":true}},"properties":{"product_id":"` + product + `","category":"boots"}}`
	}
	kcatProduce(t, e.brokers, e.topic, nil, view("s-1", "u-1", "b-1", 0), view("s-2", "u-1", "b-2", time.Minute),
		`u-2|this is not an event`)

	stream := e.prefix + "triggers:email"
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		n, err := e.rdb.XLen(context.Background(), stream).Result()
		if err != nil || n < 1 {
			return fmt.Errorf("%d triggers in %s (%v)", n, stream, err)
		}
		return nil
	})
	entries, err := e.rdb.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].Values["customer_id"] != "u-1" || entries[0].Values["rule"] != "interest.category" {
		t.Fatalf("triggers in %s: %v (%v); want one interest.category for u-1", stream, entries, err)
	}
	if n, err := e.rdb.Exists(context.Background(), e.prefix+"ctx:u-1").Result(); err != nil || n != 1 {
		t.Errorf("context hash of u-1: exists %d (%v)", n, err)
	}
	// The dead letter and the changelog, read back through the plaintext listener.
	for _, topic := range []string{e.dlq, e.group + ".changelog"} {
		testrig.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			n, err := topicRecords(e.brokers, topic)
			if err != nil || n == 0 {
				return fmt.Errorf("%s: %d records (%v)", topic, n, err)
			}
			return nil
		})
	}

	// The admin port asks for the token (admin.token_file) on all but /healthz.
	m := adminRe.FindStringSubmatch(c.output())
	get := func(path, auth string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+m[1]+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, p := range []string{"/readyz", "/metrics"} {
		if code, _ := get(p, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", p, code)
		}
	}
	if code, _ := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz without the token: %d, want 200", code)
	}
	testrig.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		if code, b := get("/readyz", "Bearer "+token); code != http.StatusOK {
			return fmt.Errorf("/readyz %d: %s", code, b)
		}
		return nil
	})
	code, metrics := get("/metrics", "Bearer "+token)
	if code != http.StatusOK {
		t.Errorf("/metrics with the token: %d", code)
	}
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	pw := append(e.sec.Passwords(t), token)
	noSecret(t, "journey's log", c.output(), pw...)
	noSecret(t, "/metrics", string(metrics), pw...)
}

// topicRecords counts the records of every partition of topic (high
// watermark minus first offset).
func topicRecords(brokers []string, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			return 0, err
		}
		first, last, err := pc.ReadOffsets()
		pc.Close()
		if err != nil {
			return 0, err
		}
		n += last - first
	}
	return n, nil
}

// A wrong password, an untrusted CA or a plaintext client on a TLS port
// fails journey run's start-up within kafka.dial_timeout, with one last
// line naming the setting to fix, and no password in the output.
func TestSecureStartupFailsNamingTheSetting(t *testing.T) {
	e := newSecureEnv(t)
	e.grant(t)
	wrong := filepath.Join(e.dir, "wrong-password")
	const wrongPassword = "not-the-password-7f3a"
	if err := os.WriteFile(wrong, []byte(wrongPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plainRedis := func(s *secureSettings) { s.redis, s.redisTLS, s.redisUser = e.redis, false, "" }
	for _, tc := range []struct {
		name string
		mod  func(*secureSettings)
		want string // the start of the last line, after "journey run: "
	}{
		{"kafka wrong password", func(s *secureSettings) { plainRedis(s); s.kafkaPasswordFile = wrong },
			"kafka.sasl.password_file: broker " + e.sec.KafkaBrokers[0] + ": the broker refused the credentials"},
		{"kafka untrusted CA", func(s *secureSettings) { plainRedis(s); s.kafkaCA = e.sec.OtherCAFile },
			"kafka.tls.ca_file: broker " + e.sec.KafkaBrokers[0] + ": the broker's certificate is not signed by a trusted CA"},
		{"kafka plaintext to TLS", func(s *secureSettings) { plainRedis(s); s.kafkaTLS, s.mechanism = false, "" },
			"kafka.tls.enabled: broker " + e.sec.KafkaBrokers[0] + ":"},
		{"kafka TLS to plaintext", func(s *secureSettings) { plainRedis(s); s.brokers, s.mechanism = e.brokers[0], "" },
			"kafka.tls.enabled: broker " + e.brokers[0] + ": the broker closed the connection on the TLS handshake"},
		{"kafka no SASL", func(s *secureSettings) { plainRedis(s); s.mechanism = "" },
			"kafka.sasl.mechanism: broker " + e.sec.KafkaBrokers[0] + ": the broker closed the connection on a request before authentication"},
		{"kafka client certificate from another CA", func(s *secureSettings) {
			plainRedis(s)
			s.kafkaCert, s.kafkaKey = e.sec.OtherClientCertFile, e.sec.OtherClientKeyFile
		}, "kafka.tls.cert_file: broker " + e.sec.KafkaBrokers[0] + ": the broker refused the TLS"},
		{"kafka no client certificate", func(s *secureSettings) { plainRedis(s); s.kafkaCert, s.kafkaKey = "", "" },
			"kafka.tls.cert_file: broker " + e.sec.KafkaBrokers[0] + ": the broker refused the TLS"},
		{"redis client certificate from another CA", func(s *secureSettings) {
			s.redisCert, s.redisKey = e.sec.OtherClientCertFile, e.sec.OtherClientKeyFile
		}, "redis.tls.cert_file: Redis at " + e.sec.RedisAddr + " refused the TLS"},
		{"redis wrong password", func(s *secureSettings) { s.redisPasswordFile = wrong },
			"redis.password_file ($JOURNEY_REDIS_PASSWORD, redis.username): Redis at " + e.sec.RedisAddr + " refused the credentials"},
		{"redis untrusted CA", func(s *secureSettings) { s.redisCA = e.sec.OtherCAFile },
			"redis.tls.ca_file: Redis at " + e.sec.RedisAddr + ": its certificate is not signed by a trusted CA"},
		{"redis plaintext to TLS", func(s *secureSettings) { s.redisTLS = false },
			"redis.tls.enabled: Redis at " + e.sec.RedisAddr + " closed the connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, took := runTimed(t, "run", "--config", e.config(t, tc.mod))
			last := lastLine(out)
			if code == 0 || !strings.HasPrefix(last, "journey run: "+tc.want) {
				t.Fatalf("exit %d, last line:\n%s\nwant it to start with:\njourney run: %s\noutput:\n%s", code, last, tc.want, out)
			}
			if took > secureDialTimeout+testrig.Within(3*time.Second) {
				t.Errorf("took %v with kafka.dial_timeout %v", took, secureDialTimeout)
			}
			t.Logf("%s (%v)", last, took)
			noSecret(t, "journey's output", out, append(e.sec.Passwords(t), wrongPassword)...)
		})
	}
}

// The restricted Redis ACL user can do what journey does and no more: a
// key outside its prefix is refused (the rig's ACL is the README's).
func TestSecureRedisACLIsRestricted(t *testing.T) {
	e := newSecureEnv(t)
	b, err := os.ReadFile(e.sec.RedisPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	// The test's own client: the rig's CA is trusted through the journey
	// configuration path, so go through the plaintext port's ACL check.
	rdb := redis.NewClient(&redis.Options{Addr: e.redis, Username: e.sec.RedisUser, Password: strings.TrimSpace(string(b))})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "elsewhere:"+e.topic, "1", time.Minute).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("SET outside the prefix: %v, want NOPERM", err)
	}
	if err := rdb.Do(ctx, "FLUSHALL").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("FLUSHALL: %v, want NOPERM", err)
	}
	if err := rdb.HSet(ctx, e.prefix+"ctx:x", "a", "b").Err(); err != nil {
		t.Errorf("HSET under the prefix: %v", err)
	}
}

// The other commands that reach Kafka go through the same TLS and SASL:
// journey topics create and check, generate (--config), state restore
// (the changelog) and replay, each as the SASL user with the README's
// ACLs (plus Write on the input topic, for generate); none prints a
// password.
func TestSecureOtherCommands(t *testing.T) {
	e := newSecureEnv(t)
	e.grant(t)
	testrig.GrantACLs(t, e.brokers, e.sec.KafkaUser,
		testrig.ACL{Resource: kafka.ResourceTypeTopic, Name: e.topic, Operation: kafka.ACLOperationTypeWrite})
	cfg := e.config(t, nil)
	pw := e.sec.Passwords(t)
	run := func(args ...string) string {
		t.Helper()
		code, out := runToExit(t, 2*time.Minute, args...)
		if code != 0 {
			t.Fatalf("journey %s: exit %d:\n%s", strings.Join(args, " "), code, out)
		}
		noSecret(t, "journey "+args[0]+"'s output", out, pw...)
		return out
	}
	run("topics", "create", "--config", cfg)
	run("topics", "check", "--config", cfg)
	run("generate", "--config", cfg, "--topic", e.topic, "--events", "200", "--rate", "2000", "--customers", "20")
	if n, err := topicRecords(e.brokers, e.topic); err != nil || n != 200 {
		t.Fatalf("the input topic holds %d records (%v), want the 200 generated", n, err)
	}
	// journey run fills the changelog; state restore reads it back.
	c := startChild(t, "run", "--config", cfg)
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		n, err := topicRecords(e.brokers, e.group+".changelog")
		if err != nil || n == 0 {
			return fmt.Errorf("changelog: %d records (%v)", n, err)
		}
		return nil
	})
	c.waitReady(t, 30*time.Second)
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("journey run: exit %d", code)
	}
	noSecret(t, "journey run's log", c.output(), pw...)
	out := run("state", "restore", "--config", cfg, "--state-dir", filepath.Join(e.dir, "restored"))
	if !strings.Contains(out, "partition") {
		t.Errorf("journey state restore printed no partition table:\n%s", out)
	}
	run("replay", "--config", cfg, "--state-dir", filepath.Join(e.dir, "replayed"), "--from", "earliest", "--triggers", "off")
}

// startSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors the Redis at master as "journey-master", and returns its
// address once it names the master.
func startSentinel(t *testing.T, master string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found (make test installs it)")
		}
		t.Skip("redis-server not found: run make test")
	}
	host, port, _ := net.SplitHostPort(master)
	addr := testrig.ClosedPort(t) // a free port, closed again
	_, sport, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte("bind 127.0.0.1\nport "+sport+"\ndir "+dir+"\n"+
		"sentinel monitor journey-master "+host+" "+port+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := redis.NewSentinelClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer sc.Close()
	testrig.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		got, err := sc.GetMasterAddrByName(context.Background(), "journey-master").Result()
		if err != nil {
			return err
		}
		if len(got) != 2 || net.JoinHostPort(got[0], got[1]) != master {
			return fmt.Errorf("the sentinel names %v", got)
		}
		return nil
	})
	return addr
}

// With redis.sentinel, journey asks the sentinels for the master and
// delivers there; redis.addr is not used (it points nowhere here).
func TestRedisSentinel(t *testing.T) {
	e := newRigEnv(t, 1)
	sentinel := startSentinel(t, e.redis)
	cfg := e.config(t, `processors:
  interest:
    threshold: 2
    target: email
  policy:
    quiet_hours:
      channels: []
`)
	// redis.addr set to a closed port: only the sentinel can lead to Redis.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "  addr: "+e.redis+"\n",
		"  addr: "+testrig.ClosedPort(t)+"\n  sentinel:\n    master: journey-master\n    addrs: ["+sentinel+"]\n", 1))
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// A sentinel that does not answer fails the start-up naming the setting.
	bad := filepath.Join(e.dir, "bad-sentinel.yaml")
	closed := testrig.ClosedPort(t)
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), "addrs: ["+sentinel+"]", "addrs: ["+closed+"]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runTimed(t, "run", "--config", bad, "--dial-timeout", "2s")
	if want := "journey run: redis.sentinel.addrs " + closed + " (master journey-master): "; code == 0 || !strings.HasPrefix(lastLine(out), want) {
		t.Errorf("exit %d, last line %q; want it to start with %q", code, lastLine(out), want)
	}

	c := startChild(t, "run", "--config", cfg)
	at := time.Now().Add(-10 * time.Minute).UTC()
	view := func(id, product string, d time.Duration) string {
		return `u-1|{"type":"track","messageId":"` + id + `","userId":"u-1","event":"Product Viewed","timestamp":"` +
			at.Add(d).Format(time.RFC3339Nano) + `","context":{"channel":"web","consent":{"email":true}},"properties":{"product_id":"` +
			product + `","category":"boots"}}`
	}
	kcatProduce(t, e.brokers, e.topic, nil, view("s-1", "b-1", 0), view("s-2", "b-2", time.Minute))
	testrig.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		n, err := e.rdb.XLen(context.Background(), e.prefix+"triggers:email").Result()
		if err != nil || n != 1 {
			return fmt.Errorf("%d triggers (%v)", n, err)
		}
		return nil
	})
	if code := c.stop(t, 30*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// Each SASL mechanism journey offers (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
// authenticates to the SASL_SSL listener: journey topics check passes
// with each, and fails naming the password's setting with a wrong one.
func TestSecureSASLMechanisms(t *testing.T) {
	e := newSecureEnv(t)
	e.grant(t)
	wrong := filepath.Join(e.dir, "wrong-password")
	if err := os.WriteFile(wrong, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(e.sec.KafkaMechanisms) < 3 {
		t.Fatalf("the rig's listener takes %v; want PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512", e.sec.KafkaMechanisms)
	}
	for _, m := range e.sec.KafkaMechanisms {
		t.Run(m, func(t *testing.T) {
			plainRedis := func(s *secureSettings) { s.redis, s.redisTLS, s.redisUser, s.mechanism = e.redis, false, "", m }
			code, out := runToExit(t, time.Minute, "topics", "check", "--config", e.config(t, plainRedis))
			// The changelog and dead-letter topics do not exist yet:
			// check says so, after authenticating.
			if strings.Contains(out, "kafka.sasl") || strings.Contains(out, "kafka.tls") || !strings.Contains(out, e.topic) {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			code, out = runToExit(t, time.Minute, "topics", "check", "--config", e.config(t, func(s *secureSettings) {
				plainRedis(s)
				s.kafkaPasswordFile = wrong
			}))
			if code == 0 || !strings.HasPrefix(lastLine(out), "journey topics: kafka.sasl.password_file: broker ") {
				t.Fatalf("wrong password: exit %d:\n%s", code, out)
			}
		})
	}
}
