// Package redissink is the production sink.Sink: it writes triggers to one
// Redis Stream per channel and customer context to one hash per customer.
//
// This comment is the Redis contract downstream services (call-centre
// desktops, email and push services, ad audiences) code against.
//
// # Keys
//
// Every key starts with Config.Prefix, "journey:" by default. A shadow
// replay writes under another prefix (e.g. "journey-shadow:") so it neither
// notifies customers nor collides with live de-duplication.
//
//	<prefix>triggers:<channel>   stream   triggers for one channel (web, app, email, call_centre...)
//	<prefix>ctx:<customer_id>    hash     the customer's current context
//	<prefix>tid:<trigger_id>     string   "1": the trigger was delivered (internal, expires)
//
// # Trigger streams
//
// Each trigger is one stream entry; the entry ID is assigned by Redis at
// delivery and orders entries per channel. Entry fields, all strings,
// exactly these and no others:
//
//	id           the trigger id: deterministic, the same on a replay; de-duplicate on it
//	rule         the rule that fired, e.g. "cart_abandoned"
//	customer_id  the customer the trigger is about
//	channel      the channel (also in the key)
//	at           event time of the cause, RFC 3339 in UTC with 9 fractional
//	             digits ("2025-11-23T09:04:05.123456789Z"); sorts as a string
//	reason       a reason code, possibly empty
//	causes       JSON array of the ids of the causing events, possibly []
//	payload      JSON object of rule-specific detail, possibly {}
//
// DecodeTrigger turns an entry back into a journey.Trigger. Read a stream
// with a consumer group (XGROUP CREATE <stream> <group> $ MKSTREAM once,
// then XREADGROUP ... STREAMS <stream> > and XACK after handling); see the
// package example. Streams are trimmed with XADD MAXLEN ~ Config.StreamMaxLen
// (approximate: Redis trims whole internal nodes, so a stream may hold a
// little more), so a consumer group that falls further behind than that
// loses the oldest entries.
//
// Triggers carry ids and reason codes, never raw personal data.
//
// # Customer context
//
// One hash per customer, fields named by the processor that owns them
// ("interest.top_category", "engagement.score"...). Each update HSETs the
// fields it carries (other fields are kept) and then EXPIREs the hash to
// Config.ContextTTL, so a customer with no activity for that long has no
// context. HGETALL or HMGET it.
//
// # Forgetting a customer
//
// `journey forget` DELs the customer's hash, and removes its entries from
// every trigger stream (XDEL of the entries whose customer_id is the
// customer's, found by SCAN over <prefix>triggers:* and XRANGE) and the tid
// keys of their trigger ids. Consumers that copied an entry elsewhere
// erase their copies themselves.
//
// # Idempotency
//
// Each trigger goes through one Lua script, atomic on the server:
//
//	SET <prefix>tid:<id> 1 NX EX <DedupTTL>
//	only if that set the key: XADD <prefix>triggers:<channel> MAXLEN ~ <StreamMaxLen> * <fields>
//	if the XADD fails: DEL the tid key again, so a retry is not mistaken for a duplicate
//
// so a trigger id delivered again — in the same batch, a retried batch, a
// restarted process or a replay — adds no second entry, as long as its tid
// key lives: DedupTTL, 7 days by default. A replay reaching further back than
// that must write to a shadow prefix (which `journey replay` does) or it
// notifies again. The tid keys live in Redis: across a Redis restart they
// (and the streams) survive only with persistence on (appendonly yes), and
// a failover to a replica that missed the last writes loses entries and tid
// keys together. Consumers that need stronger guarantees de-duplicate on
// the id field themselves.
//
// The script is loaded with SCRIPT LOAD on the first Deliver and called
// with EVALSHA; after a Redis restart or SCRIPT FLUSH the NOSCRIPT reply
// makes the sink load it again and resend the triggers concerned.
//
// # Batches and errors
//
// A batch is sent as one pipeline, one round trip: the triggers' scripts in
// batch order, then per context HSET + EXPIRE (or DEL), in batch order.
// Entries of one channel therefore appear in batch order. Errors that a
// retry may cure — refused or reset connections, timeouts, a full pool,
// LOADING, BUSY, READONLY (failover), TRYAGAIN, CLUSTERDOWN, MASTERDOWN,
// NOREPLICAS, OOM, too many clients — wrap sink.ErrRetriable, and so do
// those an operator cures without a restart: NOPERM (ACL), NOAUTH and
// WRONGPASS (a rotated password), WRONGTYPE. The rest (a closed client,
// an unknown reply...) are fatal. Each error carries a sink.Failure reason
// code, the reply word in lower case ("noperm") or "unavailable".
//
// A WRONGTYPE on one channel's stream fails only that channel's triggers:
// the others and the contexts are delivered, and the error wraps a
// sink.Held naming the failed triggers, so the dispatcher keeps those and
// lets other channels flow.
//
// # Redis Cluster
//
// The script touches two keys, the tid key and the stream, which Redis
// Cluster requires to hash to the same slot; they do not, so New refuses a
// *redis.ClusterClient (and a *redis.Ring, which would spread one channel's
// stream over shards). Use a single primary, with replicas and Sentinel for
// failover (redis.NewFailoverClient).
//
// # What it does not do
//
// It does not create consumer groups, read or acknowledge streams, or
// remove stream entries of a forgotten customer (`journey forget` deletes
// the context hash only; entries age out by trimming).
package redissink

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
)

// Defaults for the zero fields of Config.
const (
	DefaultPrefix       = "journey:"
	DefaultStreamMaxLen = 100_000
	DefaultContextTTL   = 30 * 24 * time.Hour
	DefaultDedupTTL     = 7 * 24 * time.Hour
)

// Stream entry field names: the downstream contract.
const (
	FieldID         = "id"
	FieldRule       = "rule"
	FieldCustomerID = "customer_id"
	FieldChannel    = "channel"
	FieldAt         = "at"
	FieldReason     = "reason"
	FieldCauses     = "causes"
	FieldPayload    = "payload"
)

// TimeFormat is the layout of the at field: RFC 3339, UTC, always nine
// fractional digits so that values sort as strings.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Config configures a Sink. Zero fields take the defaults above.
type Config struct {
	// Prefix starts every key. Default "journey:"; shadow replays use e.g.
	// "journey-shadow:".
	Prefix string
	// StreamMaxLen is the approximate MAXLEN (~) of each trigger stream.
	// Default 100000.
	StreamMaxLen int64
	// ContextTTL is the TTL of a customer's context hash, refreshed on each
	// update. Default 30 days. Whole seconds.
	ContextTTL time.Duration
	// DedupTTL is how long a delivered trigger id is remembered: a trigger
	// delivered again within it adds no entry. Default 7 days. Whole seconds.
	DedupTTL time.Duration
}

// Validate fills zero fields with their defaults, then checks c. The error
// names the offending field.
func (c *Config) Validate() error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.StreamMaxLen == 0 {
		c.StreamMaxLen = DefaultStreamMaxLen
	}
	if c.ContextTTL == 0 {
		c.ContextTTL = DefaultContextTTL
	}
	if c.DedupTTL == 0 {
		c.DedupTTL = DefaultDedupTTL
	}
	if c.StreamMaxLen < 0 {
		return fmt.Errorf("redissink: Config.StreamMaxLen %d: must be positive", c.StreamMaxLen)
	}
	if err := wholeSeconds(c.ContextTTL); err != nil {
		return fmt.Errorf("redissink: Config.ContextTTL %v: %w", c.ContextTTL, err)
	}
	if err := wholeSeconds(c.DedupTTL); err != nil {
		return fmt.Errorf("redissink: Config.DedupTTL %v: %w", c.DedupTTL, err)
	}
	return nil
}

func wholeSeconds(d time.Duration) error {
	switch {
	case d < time.Second:
		return errors.New("must be at least 1s")
	case d%time.Second != 0:
		return errors.New("must be a whole number of seconds")
	}
	return nil
}

// prefix returns c.Prefix, or the default when it is empty.
func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

// StreamKey returns the key of channel's trigger stream.
func (c Config) StreamKey(channel string) string { return c.prefix() + "triggers:" + channel }

// ContextKey returns the key of the customer's context hash.
func (c Config) ContextKey(customerID string) string { return c.prefix() + "ctx:" + customerID }

// dedupKey returns the key that remembers a delivered trigger id.
func (c Config) dedupKey(triggerID string) string { return c.prefix() + "tid:" + triggerID }

// deliverScript adds one trigger unless its id was delivered already.
// It returns the new entry's ID, or 0 for a duplicate.
//
//	KEYS[1] dedup key   KEYS[2] stream key
//	ARGV[1] dedup TTL in seconds   ARGV[2] MAXLEN   ARGV[3...] entry fields and values
const deliverScript = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
	return 0
end
local r = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
if type(r) == 'table' and r.err then
	redis.call('DEL', KEYS[1])
end
return r
`

var deliverSHA = func() string {
	sum := sha1.Sum([]byte(deliverScript))
	return hex.EncodeToString(sum[:])
}()

// Sink is the Redis sink.Sink. It is safe for concurrent use.
type Sink struct {
	client redis.UniversalClient
	cfg    Config
	ttl    string // DedupTTL in seconds
	maxLen string

	loaded atomic.Bool // SCRIPT LOAD succeeded and no NOSCRIPT since
	loadMu sync.Mutex  // one SCRIPT LOAD at a time
}

var _ sink.Sink = (*Sink)(nil)

// New returns a Sink writing through client, which it does not close.
// It does no I/O: the script is loaded by the first Deliver.
//
// A *redis.ClusterClient or *redis.Ring is refused (see Redis Cluster in the
// package comment).
func New(client redis.UniversalClient, c Config) (*Sink, error) {
	if client == nil {
		return nil, errors.New("redissink: nil client")
	}
	switch client.(type) {
	case *redis.ClusterClient:
		return nil, errors.New("redissink: Redis Cluster is not supported: the dedup key and the stream of a trigger would live in different slots")
	case *redis.Ring:
		return nil, errors.New("redissink: redis.Ring is not supported: it would shard one channel's stream over several servers")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Sink{
		client: client,
		cfg:    c,
		ttl:    strconv.FormatInt(int64(c.DedupTTL/time.Second), 10),
		maxLen: strconv.FormatInt(c.StreamMaxLen, 10),
	}, nil
}

// Config returns the validated configuration, defaults filled in.
func (s *Sink) Config() Config { return s.cfg }

// Deliver implements sink.Sink; see the package comment for what it writes.
func (s *Sink) Deliver(ctx context.Context, b sink.Batch) error {
	if err := sink.CtxErr(ctx); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	args := make([][]any, len(b.Triggers))
	for i := range b.Triggers {
		a, err := s.scriptArgs(&b.Triggers[i])
		if err != nil {
			return fmt.Errorf("%w: trigger %d (id %q): %w", sink.ErrInvalid, i, b.Triggers[i].ID, err)
		}
		args[i] = a
	}
	if err := s.load(ctx); err != nil {
		return err
	}

	// One round trip for the whole batch.
	pipe := s.client.Pipeline()
	evals := make([]*redis.Cmd, len(b.Triggers))
	for i := range b.Triggers {
		evals[i] = s.eval(ctx, pipe, &b.Triggers[i], args[i])
	}
	type ctxCmd struct {
		i   int
		cmd redis.Cmder
	}
	var ctxCmds []ctxCmd
	for i, c := range b.Contexts {
		key := s.cfg.ContextKey(c.CustomerID)
		switch {
		case c.Delete || c.Forget:
			ctxCmds = append(ctxCmds, ctxCmd{i, pipe.Del(ctx, key)})
		case len(c.Fields) > 0:
			ctxCmds = append(ctxCmds,
				ctxCmd{i, pipe.HSet(ctx, key, c.Fields)},
				ctxCmd{i, pipe.Expire(ctx, key, s.cfg.ContextTTL)})
		}
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below

	// A failed context fails the batch; a failed trigger is settled below.
	for _, c := range ctxCmds {
		if err := c.cmd.Err(); err != nil {
			return s.wrap(ctx, fmt.Sprintf("context %d (%s)", c.i, c.cmd.Name()), err)
		}
	}
	// After the batch's own triggers, so none of a forgotten customer's
	// is left behind. Done again in full if the batch is retried.
	var forget map[string]bool
	for _, c := range b.Contexts {
		if c.Forget {
			if forget == nil {
				forget = map[string]bool{}
			}
			forget[c.CustomerID] = true
		}
	}
	if forget != nil {
		if err := s.eraseStreams(ctx, forget); err != nil {
			return err
		}
	}
	failed, err := s.settle(ctx, b.Triggers, args, evals)
	if err != nil || len(failed) == 0 {
		return err
	}
	// Held when every failure is its own key's (a stream of the wrong
	// type): the caller keeps those and lets the rest flow.
	held := &sink.Held{}
	for _, i := range failed {
		if !perKey(evals[i].Err()) {
			return s.wrap(ctx, fmt.Sprintf("trigger id %q", b.Triggers[i].ID), evals[i].Err())
		}
		held.Triggers = append(held.Triggers, i)
	}
	i := failed[0]
	held.Err = s.wrap(ctx, fmt.Sprintf("trigger id %q (channel %q)", b.Triggers[i].ID, b.Triggers[i].Channel), evals[i].Err())
	return fmt.Errorf("redissink: %w", held)
}

// settle checks the trigger scripts' replies and returns the indexes of
// the triggers that failed, in order. Triggers that met NOSCRIPT (Redis
// restarted or its script cache was flushed) are sent again, in order,
// after reloading the script; the dedup key makes that safe.
func (s *Sink) settle(ctx context.Context, ts []journey.Trigger, args [][]any, evals []*redis.Cmd) ([]int, error) {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		var again, failed []int
		for i, cmd := range evals {
			err := cmd.Err()
			switch {
			case err == nil:
			case isNoScript(err):
				again = append(again, i)
			default:
				failed = append(failed, i)
			}
		}
		if len(again) == 0 {
			return failed, nil
		}
		if attempt == attempts {
			return nil, fmt.Errorf("%w: redissink: NOSCRIPT after %d loads of the deliver script", sink.ErrRetriable, attempts-1)
		}
		s.loaded.Store(false)
		if err := s.load(ctx); err != nil {
			return nil, err
		}
		pipe := s.client.Pipeline()
		for _, i := range again {
			evals[i] = s.eval(ctx, pipe, &ts[i], args[i])
		}
		_, _ = pipe.Exec(ctx)
	}
}

func (s *Sink) eval(ctx context.Context, pipe redis.Pipeliner, t *journey.Trigger, args []any) *redis.Cmd {
	return pipe.EvalSha(ctx, deliverSHA, []string{s.cfg.dedupKey(t.ID), s.cfg.StreamKey(t.Channel)}, args...)
}

// load loads the deliver script unless it is known to be loaded.
func (s *Sink) load(ctx context.Context) error {
	if s.loaded.Load() {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded.Load() {
		return nil
	}
	sha, err := s.client.ScriptLoad(ctx, deliverScript).Result()
	if err != nil {
		return s.wrap(ctx, "SCRIPT LOAD", err)
	}
	if sha != deliverSHA {
		return fmt.Errorf("redissink: SCRIPT LOAD returned digest %s, want %s", sha, deliverSHA)
	}
	s.loaded.Store(true)
	return nil
}

// scriptArgs returns the script's ARGV for t: TTL, MAXLEN, entry fields.
func (s *Sink) scriptArgs(t *journey.Trigger) ([]any, error) {
	causes := t.Causes
	if causes == nil {
		causes = []string{}
	}
	cb, err := json.Marshal(causes)
	if err != nil {
		return nil, fmt.Errorf("causes: %w", err)
	}
	pb := t.PayloadJSON
	if pb == nil {
		payload := t.Payload
		if payload == nil {
			payload = map[string]any{}
		}
		if pb, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
	}
	return []any{
		s.ttl, s.maxLen,
		FieldID, t.ID,
		FieldRule, t.Rule,
		FieldCustomerID, t.CustomerID,
		FieldChannel, t.Channel,
		FieldAt, t.At.UTC().Format(TimeFormat),
		FieldReason, t.Reason,
		FieldCauses, string(cb),
		FieldPayload, string(pb),
	}, nil
}

// DecodeTrigger parses a trigger stream entry, as returned by XRANGE or
// XREADGROUP, back into a trigger: At in UTC, Payload decoded from JSON
// (numbers as float64). Unknown fields are ignored.
func DecodeTrigger(m redis.XMessage) (journey.Trigger, error) {
	var t journey.Trigger
	str := func(field string) (string, error) {
		v, ok := m.Values[field]
		if !ok {
			return "", fmt.Errorf("redissink: entry %s: no %s field", m.ID, field)
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("redissink: entry %s: field %s is %T, want string", m.ID, field, v)
		}
		return s, nil
	}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{FieldID, &t.ID}, {FieldRule, &t.Rule}, {FieldCustomerID, &t.CustomerID},
		{FieldChannel, &t.Channel}, {FieldReason, &t.Reason},
	} {
		if *f.dst, err = str(f.name); err != nil {
			return t, err
		}
	}
	at, err := str(FieldAt)
	if err != nil {
		return t, err
	}
	if t.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return t, fmt.Errorf("redissink: entry %s: field at: %w", m.ID, err)
	}
	t.At = t.At.UTC()
	causes, err := str(FieldCauses)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(causes), &t.Causes); err != nil {
		return t, fmt.Errorf("redissink: entry %s: field causes: %w", m.ID, err)
	}
	payload, err := str(FieldPayload)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(payload), &t.Payload); err != nil {
		return t, fmt.Errorf("redissink: entry %s: field payload: %w", m.ID, err)
	}
	return t, nil
}

// eraseBatch is how many stream entries eraseStreams reads per XRANGE;
// eraseScanCount is the COUNT of the SCAN that finds the trigger streams.
const (
	eraseBatch     = 1000
	eraseScanCount = 10_000
)

// eraseStreams removes the entries of the customers in ids from every
// trigger stream under the prefix, and the tid keys of their trigger ids.
// It reads every stream in full (at most StreamMaxLen entries each): a
// forget is rare, and the entries carry no index by customer.
func (s *Sink) eraseStreams(ctx context.Context, ids map[string]bool) error {
	pattern := globEscape(s.cfg.prefix()) + "triggers:*"
	var cursor uint64
	for {
		// SCAN walks the whole keyspace (a context hash per customer): a
		// large COUNT keeps that to a few round trips with a million
		// customers (100 took 30 s; each call stays a few ms of Redis).
		keys, next, err := s.client.ScanType(ctx, cursor, pattern, eraseScanCount, "stream").Result()
		if err != nil {
			return s.wrap(ctx, "forget: SCAN "+pattern, err)
		}
		for _, key := range keys {
			if err := s.eraseStream(ctx, key, ids); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// eraseStream removes the entries of the customers in ids from one
// stream, and their tid keys.
func (s *Sink) eraseStream(ctx context.Context, key string, ids map[string]bool) error {
	start := "-"
	for {
		page, err := s.client.XRangeN(ctx, key, start, "+", eraseBatch).Result()
		if err != nil {
			return s.wrap(ctx, "forget: XRANGE "+key, err)
		}
		var entries, tids []string
		for _, m := range page {
			if c, _ := m.Values[FieldCustomerID].(string); ids[c] {
				entries = append(entries, m.ID)
				if id, _ := m.Values[FieldID].(string); id != "" {
					tids = append(tids, s.cfg.dedupKey(id))
				}
			}
		}
		if len(entries) > 0 {
			pipe := s.client.Pipeline()
			cmds := []redis.Cmder{pipe.XDel(ctx, key, entries...)}
			if len(tids) > 0 {
				cmds = append(cmds, pipe.Del(ctx, tids...))
			}
			_, _ = pipe.Exec(ctx)
			for _, c := range cmds {
				if err := c.Err(); err != nil {
					return s.wrap(ctx, "forget: "+c.Name()+" "+key, err)
				}
			}
		}
		if len(page) < eraseBatch {
			return nil
		}
		start = "(" + page[len(page)-1].ID
	}
}

// globEscape escapes the glob characters of a key prefix for SCAN MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wrap names what failed and classifies err: a done ctx as sink.CtxErr
// does, retriable errors wrapped with sink.ErrRetriable, and a
// sink.Failure with the reason code.
func (s *Sink) wrap(ctx context.Context, what string, err error) error {
	if cerr := sink.CtxErr(ctx); cerr != nil {
		return fmt.Errorf("redissink: %s: %w (%v)", what, cerr, err)
	}
	err = &sink.Failure{Reason: reason(err), Err: err}
	if retriable(err) {
		return fmt.Errorf("redissink: %s: %w: %w", what, sink.ErrRetriable, err)
	}
	return fmt.Errorf("redissink: %s: %w", what, err)
}

// replyWord returns the first word of a Redis error reply ("WRONGTYPE"),
// or "" when err is not one.
func replyWord(err error) string {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return ""
	}
	msg := strings.TrimPrefix(rerr.Error(), "ERR ")
	switch {
	case strings.HasPrefix(msg, "max number of clients reached"):
		return "MAXCLIENTS"
	case strings.Contains(msg, "user executing the script can't run"): // an ACL denial inside the script
		return "NOPERM"
	}
	word, _, _ := strings.Cut(msg, " ")
	return word
}

// reason is err's code for the metric and /readyz: the reply word in
// lower case when it is one we know, else "redis_error", "closed" or
// "unavailable" (network, pool, timeout).
func reason(err error) string {
	switch w := replyWord(err); {
	case w == "MAXCLIENTS" || retriableReplies[w]:
		return strings.ToLower(w)
	case w != "":
		return "redis_error"
	case errors.Is(err, redis.ErrClosed):
		return "closed"
	default:
		return "unavailable"
	}
}

// perKey reports whether err is about one key only, so the triggers for
// other keys can still be delivered.
func perKey(err error) bool { return replyWord(err) == "WRONGTYPE" }

func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}

// retriableReplies are the first words of Redis error replies after which a
// retry may succeed.
var retriableReplies = map[string]bool{
	"LOADING":     true, // loading the dataset after a restart
	"BUSY":        true, // a script or module command is running past its time limit
	"TRYAGAIN":    true,
	"CLUSTERDOWN": true,
	"MASTERDOWN":  true, // replica lost its primary, replica-serve-stale-data no
	"READONLY":    true, // wrote to a replica: failover in progress
	"NOREPLICAS":  true, // min-replicas-to-write not met
	"OOM":         true, // maxmemory reached: the outbox holds until it clears
	"NOSCRIPT":    true, // script cache flushed again while we reloaded
	// Errors an operator cures without restarting journey: the outbox
	// keeps the triggers and the dispatcher backs off (and reports them)
	// until then, rather than crash-looping.
	"NOPERM":    true, // an ACL denies a command or key
	"NOAUTH":    true, // the password was rotated, or requirepass set
	"WRONGPASS": true,
	"WRONGTYPE": true, // a key of ours holds another type: held per key (sink.Held)
}

// retriable reports whether err is one a retry may cure.
func retriable(err error) bool {
	if errors.Is(err, redis.ErrClosed) { // our client was closed: a bug, not an outage
		return false
	}
	if w := replyWord(err); w != "" {
		return w == "MAXCLIENTS" || retriableReplies[w]
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range []syscall.Errno{
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
	} {
		if errors.Is(err, errno) {
			return true
		}
	}
	// Any other network failure: dial, DNS, TLS handshake, timeouts.
	var nerr net.Error
	return errors.As(err, &nerr)
}
