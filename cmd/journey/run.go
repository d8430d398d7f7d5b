package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/admin"
	"github.com/journey-dev/journey/pkg/api"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/sink/redissink"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

// loadConfig parses the flags of a command that runs the pipeline (its
// own, already defined on f, and the configuration's, defined here) and
// returns the validated configuration: defaults, then the YAML file, then
// JOURNEY_* variables, then flags. A bad flag or -h is reported as parse
// reports it (exitStatus(2), flag.ErrHelp).
func loadConfig(f *cmdFlags, args []string) (config.Config, error) {
	cfg, rest, err := loadConfigArgs(f, args)
	if err == nil && len(rest) > 0 {
		err = f.usageError("unexpected arguments %q", rest)
	}
	return cfg, err
}

// loadConfigArgs is loadConfig for a command with positional arguments,
// which it returns.
func loadConfigArgs(f *cmdFlags, args []string) (config.Config, []string, error) {
	path := f.String("config", os.Getenv("JOURNEY_CONFIG"), "YAML configuration file [$JOURNEY_CONFIG]")
	apply := config.Flags(f.FlagSet)
	f.help.groups = append(f.help.groups, configGroups()...)
	rest, err := f.parseArgs(args)
	if err != nil {
		return config.Config{}, nil, err
	}
	cfg, err := loadConfigFile(*path, apply)
	return cfg, rest, err
}

func loadConfigFile(path string, apply func(*config.Config, func(string) string) error) (config.Config, error) {
	cfg := config.Default()
	if err := cfg.Load(path); err != nil {
		return cfg, err
	}
	if err := apply(&cfg, os.Getenv); err != nil {
		return cfg, err
	}
	return cfg, checkConfig(cfg, path)
}

// checkConfig checks a loaded configuration. The processors' sections are
// decoded first: a typo there is the file's, one line each naming it,
// "config journey.yaml: processors.cart.timeuot (line 11): unknown field".
// Then every rule (app.Validate's and the processors'), reported together
// under "invalid configuration:", each naming its field.
func checkConfig(cfg config.Config, path string) error {
	var typos, invalid []error
	if _, err := processors.BuildWithRules(cfg.Processors, &cfg.Rules, cfg.ProcessorsEnabled); err != nil {
		for _, e := range config.Split(err) {
			if fe := (*config.FieldError)(nil); errors.As(e, &fe) {
				typos = append(typos, config.InFile(path, e))
			} else {
				invalid = append(invalid, e)
			}
		}
	}
	if len(typos) > 0 {
		return errors.Join(typos...)
	}
	if err := app.Validate(cfg); err != nil {
		invalid = append(config.Split(err), invalid...)
	}
	if len(invalid) > 0 {
		return fmt.Errorf("invalid configuration:\n%w", errors.Join(invalid...))
	}
	return nil
}

// runHelp is journey run -h's text above the flags.
var runHelp = help{name: "run", text: `Consumes the input topics as the consumer group kafka.group_id, folds every event into the state in
state.dir through the processors, and publishes the triggers they emit to Redis streams.

Settings come from the built-in defaults, then the --config file, then the JOURNEY_* variables,
then the flags; the defaults shown are the built-in ones. journey.example.yaml documents every
setting of the file.`}

func newLogger(c config.Log, stderr io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(stderr), level)), nil
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(newFlags(runHelp, stdout, stderr), args)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	return serve(ctx, cfg, log, prometheus.NewRegistry())
}

// serve wires the pipeline from cfg and runs it with the admin server until
// ctx is done or something fails. Its metrics are registered with reg,
// which /metrics serves (journey dev also reads them for its live view).
func serve(ctx context.Context, cfg config.Config, log *zap.Logger, reg *prometheus.Registry) error {
	app.TuneRuntime(cfg, os.Getenv)
	engine, err := app.Engine(cfg)
	if err != nil {
		return err
	}
	dec, err := app.Decoder(cfg)
	if err != nil {
		return err
	}
	// go-redis logs pool events through a process-wide logger; send them to zap.
	redis.SetLogger(redisLogger{log.Sugar().Named("redis")})
	app.SecurityWarnings(cfg, log)
	rdb, err := app.RedisClient(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	redisWait, err := pingRedis(ctx, cfg, rdb, log)
	if err != nil || ctx.Err() != nil {
		return err // nil: stopped while starting
	}
	snk, err := redissink.New(rdb, app.SinkConfig(cfg))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := metrics.New(reg)
	if err != nil {
		return err
	}
	store, err := state.Open(cfg.State.Dir, app.StoreOptions(cfg, log.Named("pebble")))
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close state store", zap.Error(err))
		}
	}()
	pc, err := app.SecurePipelineConfig(cfg)
	if err != nil {
		return err
	}
	p, err := pipeline.New(pc, log, store, dec, engine, snk, m)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	if cfg.Admin.Addr != "" {
		sec, err := app.AdminSecurity(cfg)
		if err != nil {
			return err
		}
		srv, err := admin.ListenSecure(cfg.Admin.Addr, reg, func() (bool, any) {
			st := p.Status()
			if err := redisWait.Err(); err != nil {
				return false, waitingStatus{Status: st, Redis: err.Error() + " (redis.wait_at_start: waiting for it)"}
			}
			return st.Ready(), st
		}, sec)
		if err != nil {
			return fmt.Errorf("admin.addr: %w", err)
		}
		log.Info("admin listening", zap.String("addr", srv.Addr()))
		g.Go(func() error { return srv.Serve(gctx) })
	}
	if cfg.API.Addr != "" {
		if err := serveAPI(gctx, g, cfg, store, engine, p, reg, log); err != nil {
			return err
		}
	}
	if redisWait.Err() != nil {
		g.Go(func() error {
			redisWait.Run(gctx, rdb, cfg.Redis.Addr, cfg.Kafka.DialTimeout, time.Second)
			if redisWait.Err() == nil {
				log.Info("redis answers", zap.String("addr", cfg.Redis.Addr))
			}
			return nil
		})
	}
	g.Go(func() error {
		defer log.Info("pipeline stopped")
		err := p.Run(gctx)
		if err == nil && ctx.Err() == nil {
			err = errors.New("pipeline stopped unexpectedly")
		}
		return err
	})
	log.Info("journey running", zap.Strings("topics", cfg.Kafka.Topics), zap.String("group", cfg.Kafka.GroupID),
		zap.String("state_dir", cfg.State.Dir), zap.Strings("processors", processorNames(engine)))
	err = g.Wait()
	if errors.Is(err, state.ErrWriteFailed) {
		// One line, and no restart loop: on the same full disk the next
		// start would fail alike.
		what := "check the disk"
		if errors.Is(err, syscall.ENOSPC) {
			what = "free space"
		}
		return fmt.Errorf("%w: journey stopped; %s and start it again", err, what)
	}
	if ctx.Err() != nil && err == nil {
		log.Info("shut down cleanly")
	}
	return err
}

// pingRedis pings Redis within kafka.dial_timeout. Unreachable, it is a
// start-up error naming redis.addr, unless redis.wait_at_start: then the
// returned RedisWait holds the reason, which /readyz reports until Redis
// answers. It returns nil, nil when ctx ends first.
func pingRedis(ctx context.Context, cfg config.Config, rdb *redis.Client, log *zap.Logger) (*app.RedisWait, error) {
	err := app.PingRedisConfig(ctx, cfg, rdb, cfg.Kafka.DialTimeout)
	switch {
	case err == nil:
		return nil, checkRedisRisk(ctx, cfg, rdb, log)
	case ctx.Err() != nil:
		return nil, nil
	case !cfg.Redis.WaitAtStart:
		return nil, err
	}
	log.Warn("redis does not answer; starting anyway (redis.wait_at_start), not ready until it does", zap.Error(err))
	return app.NewRedisWait(err), nil
}

// checkRedisRisk warns once, loudly, when Redis may forget delivered
// trigger ids (app.RedisRisk), or refuses to start with
// redis.require_persistence.
func checkRedisRisk(ctx context.Context, cfg config.Config, rdb *redis.Client, log *zap.Logger) error {
	risk, err := app.RedisRisk(ctx, rdb, cfg.Kafka.DialTimeout)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil && cfg.Redis.RequirePersistence:
		return fmt.Errorf("redis.require_persistence: cannot check Redis's persistence: %w", err)
	case err != nil:
		log.Warn("cannot check Redis's persistence and eviction policy; if Redis forgets trigger-id keys, triggers are duplicated", zap.Error(err))
	case risk != "" && cfg.Redis.RequirePersistence:
		return fmt.Errorf("redis.require_persistence: Redis at %s: %s", cfg.Redis.Addr, risk)
	case risk != "":
		log.Warn("REDIS MAY FORGET DELIVERED TRIGGERS: "+risk+" (redis.require_persistence: true refuses to start)", zap.String("redis", cfg.Redis.Addr))
	}
	return nil
}

// waitingStatus is /readyz's detail while Redis has not answered yet:
// the pipeline's status and why Redis is not usable.
type waitingStatus struct {
	pipeline.Status
	Redis string `json:"redis"`
}

// redisLogger adapts go-redis's internal logger to zap.
type redisLogger struct{ l *zap.SugaredLogger }

func (r redisLogger) Printf(_ context.Context, format string, args ...any) {
	r.l.Debugf(format, args...)
}

func processorNames(e *journey.Engine) []string {
	var names []string
	for _, p := range e.Processors() {
		names = append(names, p.Name())
	}
	return names
}

// forgetter is the API's journey forget.
type forgetter struct {
	pc  pipeline.Config
	log *zap.Logger
}

func (f forgetter) Forget(ctx context.Context, ids []string) (func(context.Context) error, error) {
	r, err := pipeline.Forget(ctx, f.pc, f.log, ids)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { _, err := r.Wait(ctx); return err }, nil
}

// serveAPI starts the read-side API (pkg/api) on api.addr in g.
func serveAPI(ctx context.Context, g *errgroup.Group, cfg config.Config, store *state.Store, engine *journey.Engine,
	p *pipeline.Pipeline, reg prometheus.Registerer, log *zap.Logger) error {
	sec, err := app.APISecurity(cfg)
	if err != nil {
		return err
	}
	h, err := api.NewHandler(store, engine.Processors(), reg)
	if err != nil {
		return err
	}
	pc, err := app.SecurePipelineConfig(cfg)
	if err != nil {
		return err
	}
	h.SetPseudonyms(pc.Privacy.Pseudonyms)
	if cfg.Identity.Enabled {
		h.SetForgetter(forgetter{pc: pc, log: log})
	}
	srv, err := api.Listen(cfg.API.Addr, h, sec)
	if err != nil {
		return fmt.Errorf("api.addr: %w", err)
	}
	advertised := advertiseAddr(cfg.API.AdvertiseAddr, srv.Addr())
	if cfg.Identity.Enabled {
		// Identity routing puts every customer on murmur2(id) mod N, where
		// any instance can find it: the API answers for the whole group.
		client, scheme, err := app.APIProxyClient(cfg)
		if err != nil {
			return err
		}
		h.SetCluster(apiCluster{p: p, dir: pipeline.NewDirectory(pc)}, client, scheme)
		p.SetAdvertisedAPI(advertised)
	}
	log.Info("api listening", zap.String("addr", srv.Addr()), zap.String("advertised", advertised))
	g.Go(func() error { return srv.Serve(ctx) })
	return nil
}

// advertiseAddr is api.advertise_addr, else the bound address with the
// machine's host name for a wildcard host.
func advertiseAddr(configured, bound string) string {
	if configured != "" {
		return configured
	}
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return bound
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			return net.JoinHostPort(name, port)
		}
	}
	return bound
}

// apiCluster is the API's view of the group (api.Cluster): the pipeline's
// partitions, and the group's members through a Directory.
type apiCluster struct {
	p   *pipeline.Pipeline
	dir *pipeline.Directory
}

func (c apiCluster) Partition(id string) (int, bool) {
	n := c.p.Partitions()
	if n == 0 {
		return 0, false
	}
	return pipeline.PartitionOf(id, n), true
}

func (c apiCluster) Local(p int) (string, bool) {
	return c.p.PartitionState(p)
}

func (c apiCluster) Owner(ctx context.Context, p int) (string, error) { return c.dir.Owner(ctx, p) }
