// Command rig starts and stops the real services journey's tests talk to: a
// single-node Apache Kafka broker (KRaft, broker and controller in one JVM,
// from the jars rig/install.sh fetched) and a Redis server, both bound to
// 127.0.0.1 on free ports, with nothing persisted beyond the rig folder.
//
//	rig up   [-dir .rig/up] [-env .rig/env]   start, wait until ready, write the env file, leave running
//	rig down [-dir .rig/up]                   stop and remove the data
//	rig exec [-dir .rig/test] -- cmd args...  start, run cmd with the services in its
//	                                          environment, always stop and clean up
//
// Readiness is polled with real clients (a Kafka metadata request, a Redis
// PING) against a deadline; a service that dies early fails at once with its
// log. It is a developer tool, not part of the journey binary.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/config"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "up":
		err = cmdUp(args)
	case "down":
		err = cmdDown(args)
	case "exec":
		var code int
		code, err = cmdExec(args)
		if err == nil {
			os.Exit(code)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rig:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: rig up|down|exec [flags] [-- cmd args...]")
	os.Exit(2)
}

type options struct {
	dir       string
	envFile   string
	cache     string
	heap      string
	startWait time.Duration
}

func parse(name string, args []string, defDir string) (options, []string) {
	var o options
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&o.dir, "dir", defDir, "folder for the services' config, data, logs and pids")
	fs.StringVar(&o.envFile, "env", "", "also write the addresses to this file (KEY=VALUE lines)")
	fs.StringVar(&o.cache, "cache", envOr("JOURNEY_CACHE", ".cache"), "folder holding kafka/libs")
	fs.StringVar(&o.heap, "heap", "512m", "Kafka JVM heap")
	fs.DurationVar(&o.startWait, "wait", 120*time.Second, "how long to wait for the services to be ready")
	_ = fs.Parse(args)
	abs, err := filepath.Abs(o.dir)
	if err == nil {
		o.dir = abs
	}
	if abs, err := filepath.Abs(o.cache); err == nil {
		o.cache = abs
	}
	return o, fs.Args()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// services is what a started rig exposes.
type services struct {
	kafka     string
	redis     string
	kafkaLibs string
	// The secure endpoints (secure.go): SASL_SSL Kafka, TLS Redis.
	kafkaSecure, redisTLS string
	sec                   *secure
}

// env is what `rig exec` gives its command: the addresses, under the
// names the tests read.
func (s services) env() []string {
	return append([]string{
		"KAFKA_BROKERS=" + s.kafka,
		"REDIS_ADDR=" + s.redis,
		"JOURNEY_TEST_KAFKA_BROKERS=" + s.kafka,
		"JOURNEY_TEST_REDIS_ADDR=" + s.redis,
		// Tests that cross-check against the Java client load its jars from here.
		"JOURNEY_TEST_KAFKA_LIBS=" + s.kafkaLibs,
	}, s.secureEnv()...)
}

// secureEnv names the secure endpoints and the files to reach them:
// the SASL_SSL listener (SCRAM-SHA-512, user and password file), the
// Redis TLS port (ACL user, password file, the key prefix it may use),
// the CA that signed both, and an unrelated CA.
func (s services) secureEnv() []string {
	if s.sec == nil {
		return nil
	}
	return []string{
		"JOURNEY_TEST_KAFKA_SASL_SSL_BROKERS=" + s.kafkaSecure,
		"JOURNEY_TEST_KAFKA_SASL_MECHANISM=" + saslMechanisms[0],
		"JOURNEY_TEST_KAFKA_SASL_MECHANISMS=" + strings.Join(saslMechanisms, ","),
		"JOURNEY_TEST_KAFKA_SASL_USERNAME=" + secureUser,
		"JOURNEY_TEST_KAFKA_SASL_PASSWORD_FILE=" + s.sec.kafkaPasswordFile,
		"JOURNEY_TEST_REDIS_TLS_ADDR=" + s.redisTLS,
		"JOURNEY_TEST_REDIS_USERNAME=" + secureUser,
		"JOURNEY_TEST_REDIS_PASSWORD_FILE=" + s.sec.redisPasswordFile,
		"JOURNEY_TEST_REDIS_ACL_PREFIX=" + redisACLPrefix,
		"JOURNEY_TEST_TLS_CA_FILE=" + s.sec.caFile,
		"JOURNEY_TEST_TLS_OTHER_CA_FILE=" + s.sec.otherCAFile,
		"JOURNEY_TEST_TLS_CLIENT_CERT_FILE=" + s.sec.clientCert,
		"JOURNEY_TEST_TLS_CLIENT_KEY_FILE=" + s.sec.clientKey,
		"JOURNEY_TEST_TLS_OTHER_CLIENT_CERT_FILE=" + s.sec.otherClientCert,
		"JOURNEY_TEST_TLS_OTHER_CLIENT_KEY_FILE=" + s.sec.otherClientKey,
	}
}

// upEnv is the env file `rig up` writes: env, and the addresses under the
// names journey itself reads (JOURNEY_BROKERS, JOURNEY_REDIS_ADDR), so
// `set -a; . .rig/env; set +a` points journey run, topics and generate at
// the rig. They stay out of `rig exec`'s environment: there they would
// change what the tests' journey commands default to.
func (s services) upEnv() []string {
	return append(s.env(),
		config.EnvName("brokers")+"="+s.kafka,
		config.EnvName("redis-addr")+"="+s.redis,
	)
}

// writeEnv writes the env file of `rig up`: KEY=VALUE lines, which a
// shell sources with set -a.
func writeEnv(path string, s services) error {
	return os.WriteFile(path, []byte(strings.Join(s.upEnv(), "\n")+"\n"), 0o644)
}

func cmdUp(args []string) error {
	o, _ := parse("up", args, ".rig/up")
	// Only held while starting: `make up` leaves the services running.
	unlock, err := lock(o.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if o.envFile == "" {
		o.envFile = filepath.Join(filepath.Dir(o.dir), "env")
	}
	start := time.Now()
	s, err := up(o)
	if err != nil {
		_ = down(o.dir)
		return err
	}
	if err := writeEnv(o.envFile, s); err != nil {
		return err
	}
	fmt.Printf("rig: up in %.1fs\n  Kafka  %s (SASL_SSL %s)\n  Redis  %s (TLS %s)\n  env    %s (source it: set -a; . %s; set +a)\n  stop   make down\n",
		time.Since(start).Seconds(), s.kafka, s.kafkaSecure, s.redis, s.redisTLS, o.envFile, o.envFile)
	return nil
}

func cmdDown(args []string) error {
	o, _ := parse("down", args, ".rig/up")
	if err := down(o.dir); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(filepath.Dir(o.dir), "env"))
	fmt.Println("rig: down")
	return nil
}

func cmdExec(args []string) (int, error) {
	o, rest := parse("exec", args, ".rig/test")
	if len(rest) == 0 {
		return 0, errors.New("exec: no command after --")
	}
	unlock, err := lock(o.dir)
	if err != nil {
		return 0, err
	}
	defer unlock()
	// Stop and clean up whatever happens from here on: normal exit, failure,
	// or a signal (the child gets the signal too, being in our process group).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer func() {
		if err := down(o.dir); err != nil {
			fmt.Fprintln(os.Stderr, "rig: clean-up:", err)
		}
	}()

	_ = down(o.dir) // a previous run killed with SIGKILL may have left services behind
	t0 := time.Now()
	s, err := up(o)
	if err != nil {
		return 1, err
	}
	rigTime := time.Since(t0)
	fmt.Printf("rig: Kafka %s, Redis %s, ready in %.1fs\n", s.kafka, s.redis, rigTime.Seconds())

	cmd := exec.Command(rest[0], rest[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), s.env()...)
	t1 := time.Now()
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var runErr error
	select {
	case runErr = <-done:
	case sig := <-sigs:
		_ = cmd.Process.Signal(sig)
		runErr = <-done
	}
	code := 0
	if runErr != nil {
		code = 1
		var ee *exec.ExitError
		if errors.As(runErr, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	if code != 0 {
		printTail(filepath.Join(o.dir, "kafka", "server.log"), 60)
		printTail(filepath.Join(o.dir, "redis", "redis.log"), 20)
	}
	fmt.Printf("rig: start-up %.1fs, %s %.1fs, exit %d\n", rigTime.Seconds(), filepath.Base(rest[0]),
		time.Since(t1).Seconds(), code)
	return code, nil
}

// lock takes an exclusive lock on dir's lock file, so two rigs never share
// (and tear down) one folder; the lock goes with the process.
func lock(dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	path := dir + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("%s is in use by another rig (pid %s); wait for it or use another -dir",
			dir, strings.TrimSpace(string(holder)))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())), 0)
	return func() { _ = f.Close() }, nil
}

// up starts Kafka and Redis under dir and waits until both answer.
func up(o options) (services, error) {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return services{}, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return services{}, err
	}
	sec, err := newSecure(filepath.Join(o.dir, "secure"))
	if err != nil {
		return services{}, fmt.Errorf("certificates: %w", err)
	}
	s := services{
		kafka:       "127.0.0.1:" + strconv.Itoa(ports[0]),
		redis:       "127.0.0.1:" + strconv.Itoa(ports[2]),
		kafkaLibs:   filepath.Join(o.cache, "kafka", "libs"),
		kafkaSecure: "127.0.0.1:" + strconv.Itoa(ports[3]),
		redisTLS:    "127.0.0.1:" + strconv.Itoa(ports[4]),
		sec:         sec,
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.startWait)
	defer cancel()

	kproc, err := startKafka(ctx, o, ports[0], ports[1], ports[3], sec)
	if err != nil {
		return s, fmt.Errorf("kafka: %w", err)
	}
	rproc, err := startRedis(o, ports[2], ports[4], sec)
	if err != nil {
		return s, fmt.Errorf("redis: %w", err)
	}
	if err := waitReady(ctx, "redis", rproc, filepath.Join(o.dir, "redis", "redis.log"), func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: s.redis, MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	}); err != nil {
		return s, err
	}
	// The SASL_SSL listener is polled alongside the plaintext one: its
	// first handshake (the JVM's TLS start-up) then overlaps the wait.
	secureErr := make(chan error, 1)
	go func() {
		secureErr <- waitReady(ctx, "kafka (SASL_SSL)", kproc, filepath.Join(o.dir, "kafka", "server.log"), func(ctx context.Context) error {
			return sec.kafkaSecureReady(ctx, s.kafkaSecure)
		})
	}()
	if err := waitReady(ctx, "kafka", kproc, filepath.Join(o.dir, "kafka", "server.log"), func(ctx context.Context) error {
		return kafkaReady(ctx, s.kafka)
	}); err != nil {
		cancel()
		<-secureErr
		return s, err
	}
	return s, <-secureErr
}

// kafkaReady succeeds once the broker answers a metadata request listing
// itself and a controller, so topic creation will work.
func kafkaReady(ctx context.Context, addr string) error {
	d := kafka.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	brokers, err := conn.Brokers()
	if err != nil {
		return err
	}
	if len(brokers) == 0 {
		return errors.New("metadata lists no broker yet")
	}
	if _, err := conn.Controller(); err != nil {
		return err
	}
	return nil
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func waitReady(ctx context.Context, name string, p *proc, logFile string, check func(context.Context) error) error {
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			printTail(logFile, 80)
			return fmt.Errorf("%s exited during start-up (%v); its log is above: %s", name, p.cmd.ProcessState, logFile)
		case <-ctx.Done():
			printTail(logFile, 80)
			return fmt.Errorf("%s not ready before the deadline: %v; its log is above: %s", name, last, logFile)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func startKafka(ctx context.Context, o options, brokerPort, controllerPort, securePort int, sec *secure) (*proc, error) {
	libs := filepath.Join(o.cache, "kafka", "libs")
	if _, err := os.Stat(filepath.Join(libs, ".complete")); err != nil {
		return nil, fmt.Errorf("no Kafka jars in %s: run rig/install.sh (make test does)", libs)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java not found: Kafka needs a Java 17+ runtime")
	}
	dir := filepath.Join(o.dir, "kafka")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d,SASL_SSL://127.0.0.1:%[4]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d,SASL_SSL://127.0.0.1:%[4]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=%[3]s
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=4
background.threads=4
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.backoff.ms=1000
`, brokerPort, controllerPort, filepath.Join(dir, "data"), securePort) + sec.kafkaProps()
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil { // PLAIN's password is in it
		return nil, err
	}
	log4j := fmt.Sprintf(`log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=%s
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.state.change.logger=WARN
`, filepath.Join(dir, "server.log"))
	l4j := filepath.Join(dir, "log4j.properties")
	if err := os.WriteFile(l4j, []byte(log4j), 0o644); err != nil {
		return nil, err
	}
	base := []string{
		"-Xms" + o.heap, "-Xmx" + o.heap, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-Djava.awt.headless=true", "-Dlog4j.configuration=file:" + l4j,
		"-cp", filepath.Join(libs, "*"),
	}
	// Format KRaft storage with a fresh cluster id.
	formatArgs := append(append([]string{}, base...),
		"kafka.tools.StorageTool", "format", "-t", clusterID(), "-c", cfg, "--ignore-formatted")
	format := exec.CommandContext(ctx, java, append(formatArgs, sec.scramArgs()...)...)
	if out, err := format.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("format storage: %v\n%s", err, out)
	}
	return spawn(dir, "kafka", java, append(base, "kafka.Kafka", cfg)...)
}

func startRedis(o options, port, tlsPort int, sec *secure) (*proc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found: run rig/install.sh (make test does)")
	}
	dir := filepath.Join(o.dir, "redis")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return spawn(dir, "redis", bin, append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no"},
		sec.redisArgs(strconv.Itoa(tlsPort))...)...)
}

// spawn starts a service in its own session (so it outlives `rig up` and is
// not hit by the terminal's Ctrl-C), records its pid, and reaps it.
func spawn(dir, name, bin string, args ...string) (*proc, error) {
	out, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pidFile := filepath.Join(filepath.Dir(dir), name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// down stops the services recorded under dir and removes the folder. It
// only signals processes whose command line names dir, so a stale pid file
// can never kill an unrelated process.
func down(dir string) error {
	var errs []error
	for _, name := range []string{"kafka", "redis"} {
		pidFile := filepath.Join(dir, name+".pid")
		b, err := os.ReadFile(pidFile)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || !ours(pid, dir) {
			continue
		}
		if err := stop(pid); err != nil {
			errs = append(errs, fmt.Errorf("stop %s (pid %d): %w", name, pid, err))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func ours(pid int, dir string) bool {
	// Services run with their working directory under dir (redis-server
	// rewrites its command line, so that alone is not enough).
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && strings.HasPrefix(cwd, dir) {
		return true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), dir)
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace period.
// The data is thrown away, so the grace period is short.
func stop(pid int) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("still running after SIGKILL")
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state is the field after the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// clusterID is a KRaft cluster id: a random UUID in URL-safe base64, as
// `kafka-storage random-uuid` prints. Like Kafka's Uuid.randomUuid it never starts with '-', which the tool's
// argument parser would take for a flag.
func clusterID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

func printTail(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Fprintf(os.Stderr, "---- last %d lines of %s ----\n%s\n----\n", len(lines), path, strings.Join(lines, "\n"))
}
