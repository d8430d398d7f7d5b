package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	produceapi "github.com/segmentio/kafka-go/protocol/produce"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/journey-dev/journey/pkg/metrics"
	"github.com/journey-dev/journey/pkg/state"
)

// ChangelogConfig configures the changelog topic that lets partitions move
// between instances with their state (DESIGN.md, "Scale-out").
type ChangelogConfig struct {
	// Topic is the compacted changelog topic; "" runs without one (a
	// partition's state then lives only in this instance's store).
	Topic string
	// Standbys is how many other instances keep a warm copy of each
	// partition (capped at the group's size minus one).
	Standbys int
	// Compression of the produced record batches (0: none, journey run's
	// default).
	Compression kafka.Compression
	// MaxBatchBytes bounds one group commit's changelog batch (default 32
	// MiB); the topic is created with max.message.bytes above it.
	MaxBatchBytes int
	// StaleAfter: a local copy whose position was last written longer ago
	// than this is restored from scratch, because the topic may have
	// dropped tombstones it never saw (delete.retention.ms, which journey
	// sets to twice this when it creates the topic). Default 12h.
	StaleAfter time.Duration
	// RestoreBatchBytes bounds one Pebble batch of restored records
	// (default 8 MiB).
	RestoreBatchBytes int
}

func (c *ChangelogConfig) setDefaults() {
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 32 << 20
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 12 * time.Hour
	}
	if c.RestoreBatchBytes <= 0 {
		c.RestoreBatchBytes = 8 << 20
	}
}

// opSet tags a changelog value that sets its key; a null value (Kafka's
// tombstone, which compaction understands) deletes it.
const opSet byte = 'S'

// Restore roles, as the metrics and the status report them.
const (
	roleActive  = "active"
	roleStandby = "standby"
)

// changelog produces a partition's group commits and restores partitions.
type changelog struct {
	cfg       ChangelogConfig
	brokers   []string
	dialer    *kafka.Dialer
	client    *kafka.Client
	transport *kafka.Transport
	log       *zap.Logger
	m         *metrics.Set

	// The appender (started by the first append, stopped by close).
	reqs          chan *appendReq
	startAppender sync.Once
	stopOnce      sync.Once
	stopped       chan struct{}
}

func newChangelog(cfg ChangelogConfig, brokers []string, dialer *kafka.Dialer, log *zap.Logger, m *metrics.Set) *changelog {
	cfg.setDefaults()
	t := &kafka.Transport{MetadataTTL: 5 * time.Second, DialTimeout: 10 * time.Second}
	return &changelog{
		cfg: cfg, brokers: brokers, dialer: dialer, log: log, m: m, transport: t,
		client:  &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second, Transport: t},
		reqs:    make(chan *appendReq),
		stopped: make(chan struct{}),
	}
}

// ensure creates the changelog topic (compacted, one partition per input
// partition) or checks the existing one.
func (c *changelog) ensure(ctx context.Context, partitions int) error {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.brokers[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	topic := c.cfg.Topic
	if parts, err := conn.ReadPartitions(topic); err == nil && len(parts) > 0 {
		if len(parts) != partitions {
			return fmt.Errorf("changelog.topic: %q has %d partitions and the input topics %d: a changelog must be co-partitioned with the input",
				topic, len(parts), partitions)
		}
		return c.checkCompacted(ctx)
	}
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("pipeline: find controller: %w", err)
	}
	cc, err := c.dialer.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	err = cc.CreateTopics(kafka.TopicConfig{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: -1,
		ConfigEntries: []kafka.ConfigEntry{
			{ConfigName: "cleanup.policy", ConfigValue: "compact"},
			{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(c.cfg.MaxBatchBytes + 1<<20)},
			{ConfigName: "delete.retention.ms", ConfigValue: strconv.FormatInt((2 * c.cfg.StaleAfter).Milliseconds(), 10)},
			{ConfigName: "segment.bytes", ConfigValue: strconv.Itoa(128 << 20)},
		},
	})
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("changelog.topic: create %q: %w", topic, err)
	}
	c.log.Info("created changelog topic", zap.String("topic", topic), zap.Int("partitions", partitions))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if parts, err := conn.ReadPartitions(topic); err == nil && len(parts) == partitions && allLed(parts) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// checkCompacted refuses a changelog topic that deletes old records: a
// partition restored from it would silently lose state.
func (c *changelog) checkCompacted(ctx context.Context) error {
	res, err := c.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: c.cfg.Topic, ConfigNames: []string{"cleanup.policy"},
		}},
	})
	if err != nil {
		return fmt.Errorf("changelog.topic: describe %q: %w", c.cfg.Topic, err)
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			return fmt.Errorf("changelog.topic: describe %q: %w", c.cfg.Topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" && !slices.Contains(strings.Split(e.ConfigValue, ","), "compact") {
				return fmt.Errorf("changelog.topic: %q has cleanup.policy=%s; a changelog must be compacted (cleanup.policy=compact)",
					c.cfg.Topic, e.ConfigValue)
			}
		}
	}
	return nil
}

// batchTooBigError is a group commit whose changelog form is over
// changelog.max_batch_bytes: the worker folds its records again in two.
type batchTooBigError struct{ partition, size, max int }

func (e *batchTooBigError) Error() string {
	return fmt.Sprintf("changelog: a group commit of partition %d is %d bytes, over changelog.max_batch_bytes (%d)",
		e.partition, e.size, e.max)
}

func logBytes(recs []state.LogRecord) int {
	size := 0
	for _, r := range recs {
		size += len(r.Key) + len(r.Value) + 1
	}
	return size
}

// check refuses a group commit over changelog.max_batch_bytes, which one
// produce request could not carry.
func (c *changelog) check(partition int, recs []state.LogRecord) error {
	if size := logBytes(recs); size > c.cfg.MaxBatchBytes {
		return &batchTooBigError{partition: partition, size: size, max: c.cfg.MaxBatchBytes}
	}
	return nil
}

// sliceBytes is a kafka.Bytes over a slice (as kafka.NewBytes makes), so
// a batch's readers can be allocated together.
type sliceBytes struct{ bytes.Reader }

func (*sliceBytes) Close() error { return nil }

// logValue is a changelog record's value as a kafka.Bytes: opSet, then
// the Pebble value v.
type logValue struct {
	v   []byte
	off int // bytes read, opSet included
}

var opSetValue = []byte{opSet}

func (r *logValue) Len() int     { return 1 + len(r.v) - r.off }
func (r *logValue) Close() error { return nil }

func (r *logValue) Read(p []byte) (int, error) {
	if r.Len() == 0 {
		return 0, io.EOF
	}
	n := 0
	if r.off == 0 && len(p) > 0 {
		p[0], n, r.off = opSet, 1, 1
	}
	m := copy(p[n:], r.v[r.off-1:])
	r.off += m
	return n + m, nil
}

// WriteTo writes what is left to w (io.Copy, as kafka-go encodes a value,
// uses it).
func (r *logValue) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if r.off == 0 {
		k, err := w.Write(opSetValue)
		n += int64(k)
		if err != nil {
			return n, err
		}
		r.off = 1
	}
	k, err := w.Write(r.v[r.off-1:])
	n += int64(k)
	r.off += k
	return n, err
}

// append produces one group commit's records to the partition's changelog
// as ONE record batch in one produce request, which Kafka appends all or
// nothing, and returns the offset after it. A failure is retried with the
// identical batch (applying a batch twice in a row equals applying it once)
// until it is acknowledged or ctx ends (errStopped: the batch must then be
// abandoned, and whoever opens the partition next restores whatever of it
// reached the log).
func (c *changelog) append(ctx context.Context, partition int, recs []state.LogRecord) (int64, error) {
	if len(recs) == 0 {
		return 0, errors.New("changelog: empty append")
	}
	size := logBytes(recs)
	if err := c.check(partition, recs); err != nil {
		return 0, err
	}
	krecs := make([]kafka.Record, len(recs))
	// Readers for every key and value in one allocation each (kafka.NewBytes
	// makes one per key and value), over the batch's own bytes: a value
	// is read as opSet then the Pebble value, never copied together. (The
	// batch outlives the append: it commits or aborts after it returns.)
	keys := make([]sliceBytes, len(recs))
	vals := make([]logValue, len(recs))
	backoff := 50 * time.Millisecond
	for {
		// A kafka.Bytes is read once: every attempt rewinds them.
		for i := range recs {
			keys[i].Reset(recs[i].Key)
			krecs[i] = kafka.Record{Key: &keys[i]}
			if !recs[i].Delete {
				vals[i] = logValue{v: recs[i].Value}
				krecs[i].Value = &vals[i] // a nil interface is a tombstone
			}
		}
		start := time.Now()
		base, err := c.produce(ctx, partition, krecs, size)
		if errors.Is(err, errStopped) {
			return 0, err
		}
		if err == nil {
			c.m.ChangelogAppend.Observe(time.Since(start).Seconds())
			c.m.ChangelogRecords.WithLabelValues(strconv.Itoa(partition)).Add(float64(len(recs)))
			return base + int64(len(recs)), nil
		}
		c.log.Warn("changelog append failed; retrying the same batch", zap.Int("partition", partition), zap.Error(err),
			zap.Int("records", len(recs)))
		select {
		case <-ctx.Done():
			return 0, errStopped
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// appendReq is one partition's group commit waiting for the appender.
type appendReq struct {
	partition int
	recs      []kafka.Record
	size      int
	done      chan appendRes // cap 1: the appender never waits for the worker
}

type appendRes struct {
	base int64
	err  error
}

// maxAppendRequest bounds the bytes of one produce request the appender
// builds from several partitions' batches (the broker refuses requests over
// socket.request.max.bytes, 100 MiB by default); a single batch may be
// larger, up to changelog.max_batch_bytes, and then goes alone.
const maxAppendRequest = 16 << 20

// produce hands one record batch of partition to the appender and waits
// for the broker's answer: the batch's base offset. errStopped when ctx
// ends before the batch was handed over (then it was never sent).
func (c *changelog) produce(ctx context.Context, partition int, recs []kafka.Record, size int) (int64, error) {
	c.startAppender.Do(func() { go c.appender() })
	req := &appendReq{partition: partition, recs: recs, size: size, done: make(chan appendRes, 1)}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		return 0, errStopped
	case <-c.stopped:
		return 0, errStopped
	}
	// Once sent, the answer is awaited whatever ctx does: the batch may be
	// in the log, and the caller must know.
	res := <-req.done
	return res.base, res.err
}

// appender carries the group commits of every partition ready at the same
// moment in ONE produce request per leader broker (each partition's batch
// stays one record batch, which Kafka appends all or nothing): with a
// produce request per partition commit, the changelog was the broker's
// largest load. Up to appendInFlight requests are in flight at once, each
// on its own connection: a group commit ready while one is out goes at
// once instead of waiting for its answer. A worker has at most one batch
// waiting, so no two requests in flight hold batches of one partition and
// each partition's batches reach the log in order.
func (c *changelog) appender() {
	var pending []*appendReq
	leaders := &leaderCache{c: c, m: map[int]int{}}
	slots := make(chan struct{}, appendInFlight)
	var sending sync.WaitGroup
	defer sending.Wait()
	for {
		if len(pending) == 0 {
			select {
			case r := <-c.reqs:
				pending = append(pending, r)
			case <-c.stopped:
				return
			}
		}
		// A free slot; what arrives meanwhile joins the request. (Not
		// stopped here: a taken request is always answered.)
		for taken := false; !taken; {
			select {
			case slots <- struct{}{}:
				taken = true
			case r := <-c.reqs:
				pending = append(pending, r)
			}
		}
	drain:
		for {
			select {
			case r := <-c.reqs:
				pending = append(pending, r)
			default:
				break drain
			}
		}
		// Take what fits in one request; the rest goes next.
		n, size := 0, 0
		for n < len(pending) && (n == 0 || size+pending[n].size <= maxAppendRequest) {
			size += pending[n].size
			n++
		}
		batch := pending[:n:n]
		pending = pending[n:]
		sending.Go(func() {
			defer func() { <-slots }()
			c.send(batch, leaders)
		})
	}
}

// appendInFlight bounds the appender's produce requests in flight.
const appendInFlight = 2

// leaderCache is the appender's partition -> leader broker map, shared by
// the requests in flight.
type leaderCache struct {
	c  *changelog
	mu sync.Mutex
	m  map[int]int
}

// leader returns partition's leader, looking the leaders up when it is
// not known.
func (l *leaderCache) leader(partition int) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.m[partition]; ok {
		return id, nil
	}
	if err := l.c.lookupLeaders(l.m); err != nil {
		return 0, err
	}
	id, ok := l.m[partition]
	if !ok {
		return 0, fmt.Errorf("changelog: partition %d has no leader", partition)
	}
	return id, nil
}

// forget drops what is known: looked up again with the next batch.
func (l *leaderCache) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.m)
}

// send produces batch, one request per leader (concurrently when the
// partitions' leaders differ), and answers every request in it.
func (c *changelog) send(batch []*appendReq, leaders *leaderCache) {
	groups := map[int][]*appendReq{}
	for _, r := range batch {
		l, err := leaders.leader(r.partition)
		if err != nil {
			r.done <- appendRes{err: err}
			continue
		}
		groups[l] = append(groups[l], r)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stale := false
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.sendTo(g) {
				mu.Lock()
				stale = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if stale {
		leaders.forget()
	}
}

// sendTo produces one leader's share of a batch in one request and answers
// each request; it reports whether the leaders should be looked up again.
func (c *changelog) sendTo(g []*appendReq) (stale bool) {
	parts := make([]produceapi.RequestPartition, len(g))
	for i, r := range g {
		parts[i] = produceapi.RequestPartition{Partition: int32(r.partition), RecordSet: protocol.RecordSet{
			Attributes: protocol.Attributes(c.cfg.Compression) & 0x7, Records: kafka.NewRecordReader(r.recs...),
		}}
	}
	req := &produceapi.Request{Acks: int16(kafka.RequireAll), Timeout: 30_000,
		Topics: []produceapi.RequestTopic{{Topic: c.cfg.Topic, Partitions: parts}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.transport.RoundTrip(ctx, kafka.TCP(c.brokers...), req)
	var res *produceapi.Response
	if err == nil {
		var ok bool
		if res, ok = m.(*produceapi.Response); !ok {
			err = fmt.Errorf("changelog: unexpected produce response %T", m)
		}
	}
	if err != nil {
		for _, r := range g {
			r.done <- appendRes{err: err}
		}
		return true
	}
	answered := map[int]bool{}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			for _, r := range g {
				if r.partition != int(p.Partition) || answered[r.partition] {
					continue
				}
				answered[r.partition] = true
				if p.ErrorCode != 0 {
					err := kafka.Error(p.ErrorCode)
					stale = stale || err.Temporary()
					r.done <- appendRes{err: err}
				} else {
					r.done <- appendRes{base: p.BaseOffset}
				}
			}
		}
	}
	for _, r := range g {
		if !answered[r.partition] {
			r.done <- appendRes{err: fmt.Errorf("changelog: no answer for partition %d", r.partition)}
		}
	}
	return stale
}

// lookupLeaders fills leaders (partition -> broker id) from the metadata.
func (c *changelog) lookupLeaders(leaders map[int]int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := partitionLeaders(ctx, c.client, c.cfg.Topic)
	if err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	maps.Copy(leaders, ls)
	return nil
}

// close stops the appender; appends after it fail with errStopped.
func (c *changelog) close() {
	c.stopOnce.Do(func() { close(c.stopped) })
}

// offsets returns the first and next offsets of the changelog partition.
// Errors are retried, with backoff, until ctx ends: right after the topic
// is created (or a leader moves) the broker answers "not leader" or
// "unknown" for a moment (those first retries are not logged), and a
// broker that is down for longer must not make the instance give the
// partition up (it used to, after 30 s), any more than the fetcher does.
func (c *changelog) offsets(ctx context.Context, partition int) (first, end int64, err error) {
	first, end, err = offsetsRetrying(ctx, c.client, c.log, c.cfg.Topic, partition, 4)
	if err != nil {
		return 0, 0, fmt.Errorf("changelog: %w", err)
	}
	return first, end, nil
}

// restoreProgress receives a restore's figures as it goes.
type restoreProgress func(restored, remaining int64)

// restore brings sp's local copy up to the changelog's end as it is when
// the restore starts (follow false), or keeps applying the changelog until
// ctx ends (follow true: a standby). It returns how many records it
// applied. A local copy the log cannot continue (its position is before
// the log's start or after its end, or too old for the topic's tombstone
// retention) is dropped and rebuilt from the start. A partition holding
// state no changelog position covers must be republished first.
func (c *changelog) restore(ctx context.Context, sp *state.Partition, role string, follow bool, progress restoreProgress) (int64, error) {
	id := sp.ID()
	label := strconv.Itoa(id)
	first, end, err := c.offsets(ctx, id)
	if err != nil {
		return 0, err
	}
	pos, err := sp.LogPosition()
	if err != nil {
		return 0, err
	}
	from := first
	if pos.Found {
		from = pos.Next
		reason := ""
		switch {
		case pos.Next < first:
			reason = "the changelog no longer holds its position"
		case pos.Next > end:
			reason = "its position is past the changelog's end (the topic was recreated?)"
		case pos.Next < end && time.Since(pos.At) > c.cfg.StaleAfter:
			reason = "it is older than changelog tombstones are kept"
		}
		if reason != "" {
			c.log.Warn("local copy cannot be continued from the changelog; restoring from scratch", zap.Int("partition", id),
				zap.String("reason", reason), zap.Int64("local", pos.Next), zap.Int64("log_start", first), zap.Int64("log_end", end))
			if err := sp.Drop(); err != nil {
				return 0, err
			}
			from = first
		}
	}
	remaining := max(end-from, 0)
	if role == roleActive {
		c.m.RestoreRemaining.WithLabelValues(label).Set(float64(remaining))
		defer c.m.RestoreRemaining.WithLabelValues(label).Set(0)
	}
	if progress != nil {
		progress(0, remaining)
	}
	if from >= end && !follow {
		return 0, nil
	}
	started := time.Now()
	c.log.Info("restoring from the changelog", zap.Int("partition", id), zap.String("role", role),
		zap.Int64("from", from), zap.Int64("to", end), zap.Int64("records", remaining))

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.brokers, Dialer: c.dialer, Topic: c.cfg.Topic, Partition: id,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond, QueueCapacity: 4096,
		ReadLagInterval: -1, ErrorLogger: kafkaLogger{c.log.Sugar().Named("kafka")},
	})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return 0, err
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	msgs := make(chan kafka.Message, 4096)
	go func() {
		defer close(msgs)
		for {
			m, err := r.FetchMessage(fctx)
			if err != nil {
				if fctx.Err() != nil {
					return
				}
				c.log.Warn("changelog fetch", zap.Int("partition", id), zap.Error(err))
				select {
				case <-fctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			select {
			case msgs <- m:
			case <-fctx.Done():
				return
			}
			if !follow && m.Offset+1 >= end {
				return
			}
		}
	}()

	var (
		restored    int64
		next        = from
		b           = sp.NewRestoreBatch()
		restoredCtr = c.m.RestoredRecords.WithLabelValues(label, role)
	)
	defer func() { b.Abort() }()
	flush := func() error {
		if b.Count() == 0 && next == from {
			return nil
		}
		n := int64(b.Count())
		if err := b.Commit(next); err != nil {
			return err
		}
		restored += n
		restoredCtr.Add(float64(n))
		from = next
		b = sp.NewRestoreBatch()
		if progress != nil {
			progress(restored, max(end-next, 0))
		}
		if role == roleActive {
			c.m.RestoreRemaining.WithLabelValues(label).Set(float64(max(end-next, 0)))
		}
		return nil
	}
	lastLog := time.Now()
	for {
		var m kafka.Message
		var ok bool
		select {
		case m, ok = <-msgs:
		default:
			// Nothing waiting: make what was applied durable and visible.
			if err := flush(); err != nil {
				return restored, err
			}
			select {
			case m, ok = <-msgs:
			case <-ctx.Done():
				return restored, nil
			}
		}
		if !ok {
			if err := flush(); err != nil {
				return restored, err
			}
			if ctx.Err() != nil && !follow && next < end {
				return restored, errStopped
			}
			break
		}
		var value []byte
		if m.Value != nil {
			if len(m.Value) == 0 || m.Value[0] != opSet {
				return restored, fmt.Errorf("changelog: partition %d offset %d: unknown record format", id, m.Offset)
			}
			value = m.Value[1:]
		}
		if err := b.Apply(m.Key, value, m.Value == nil); err != nil {
			return restored, err
		}
		next = m.Offset + 1
		if follow && m.HighWaterMark > end {
			end = m.HighWaterMark // a standby's "remaining" is its lag behind the log
		}
		if b.Len() >= c.cfg.RestoreBatchBytes {
			if err := flush(); err != nil {
				return restored, err
			}
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			c.log.Info("restoring", zap.Int("partition", id), zap.String("role", role), zap.Int64("restored", restored),
				zap.Int64("remaining", max(end-next, 0)))
		}
		if !follow && next >= end {
			if err := flush(); err != nil {
				return restored, err
			}
			break
		}
	}
	secs := time.Since(started).Seconds()
	c.log.Info("partition restored", zap.Int("partition", id), zap.String("role", role), zap.Int64("records", restored),
		zap.Int64("to", next), zap.Float64("seconds", secs), zap.Float64("records_per_second", float64(restored)/max(secs, 1e-9)))
	return restored, nil
}

// republish makes the changelog equal to the partition's local state,
// which no changelog position covers (a store written without the
// changelog, or promoted from a replay): a marker record, a tombstone for
// every logged key the local state lacks, every local key, and the
// marker's removal. Until the marker is removed, a restore of the
// partition elsewhere fails loudly instead of using half of it; an
// interrupted republish is started again by the next run of this store.
func (c *changelog) republish(ctx context.Context, sp *state.Partition) error {
	id := sp.ID()
	first, end, err := c.offsets(ctx, id)
	if err != nil {
		return err
	}
	c.log.Info("republishing local state to the changelog", zap.Int("partition", id), zap.Int64("log_records", end-first))
	var (
		chunk []state.LogRecord
		size  int
		next  int64
		total int
	)
	send := func(force bool) error {
		if len(chunk) == 0 || (!force && size < c.cfg.MaxBatchBytes/4) {
			return nil
		}
		n, err := c.append(ctx, id, chunk)
		if err != nil {
			return err
		}
		total += len(chunk)
		next, chunk, size = n, nil, 0
		return nil
	}
	add := func(r state.LogRecord) error {
		r.Key = slices.Clone(r.Key)
		r.Value = slices.Clone(r.Value)
		chunk = append(chunk, r)
		size += len(r.Key) + len(r.Value) + 16
		return send(false)
	}
	if err := add(sp.RepublishMarker(false)); err != nil {
		return err
	}
	if err := send(true); err != nil {
		return err
	}
	if end > first {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers: c.brokers, Dialer: c.dialer, Topic: c.cfg.Topic, Partition: id,
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond, QueueCapacity: 4096, ReadLagInterval: -1,
		})
		defer r.Close()
		if err := r.SetOffset(first); err != nil {
			return err
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return err
			}
			if m.Value != nil {
				has, err := sp.Has(m.Key)
				if err != nil {
					return err
				}
				if !has {
					if err := add(state.LogRecord{Key: m.Key, Delete: true}); err != nil {
						return err
					}
				}
			}
			if m.Offset+1 >= end {
				break
			}
		}
	}
	if err := sp.ScanLocal(func(k, v []byte) error { return add(state.LogRecord{Key: k, Value: v}) }); err != nil {
		return err
	}
	chunk = append(chunk, sp.RepublishMarker(true))
	if err := send(true); err != nil {
		return err
	}
	if err := sp.CommitRepublished(next); err != nil {
		return err
	}
	c.log.Info("republished", zap.Int("partition", id), zap.Int("records", total), zap.Int64("position", next))
	return nil
}

// RestoreResult is what RestoreStore did for one partition.
type RestoreResult struct {
	Partition int
	Restored  int64 // records applied
	Position  int64 // changelog offset the local copy reached
}

// RestoreStore brings the given partitions of store (every partition of
// the changelog when ids is empty) up to the end of cfg.Changelog.Topic,
// all at once: what `journey state restore` does to dump or pre-warm a
// state directory without joining the group.
func RestoreStore(ctx context.Context, cfg Config, log *zap.Logger, store *state.Store, m *metrics.Set, ids []int) ([]RestoreResult, error) {
	if cfg.Changelog.Topic == "" {
		return nil, errors.New("changelog.enabled: the configuration has no changelog")
	}
	dialer := &kafka.Dialer{Timeout: 10 * time.Second}
	c := newChangelog(cfg.Changelog, cfg.Brokers, dialer, log, m)
	if len(ids) == 0 {
		md, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic}})
		if err != nil {
			return nil, fmt.Errorf("changelog.topic: %q: %w", c.cfg.Topic, err)
		}
		if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
			return nil, fmt.Errorf("changelog.topic: %q does not exist", c.cfg.Topic)
		}
		for _, pt := range md.Topics[0].Partitions {
			ids = append(ids, pt.ID)
		}
		slices.Sort(ids)
	}
	out := make([]RestoreResult, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	for i, id := range ids {
		g.Go(func() error {
			sp, err := store.Partition(id)
			if err != nil {
				return err
			}
			if unlogged, err := sp.HasUnloggedState(); err != nil || unlogged {
				if err == nil {
					err = fmt.Errorf("partition %d holds state no changelog position covers (journey run republishes it)", id)
				}
				return err
			}
			n, err := c.restore(gctx, sp, roleActive, false, nil)
			if err != nil {
				return fmt.Errorf("partition %d: %w", id, err)
			}
			pos, err := sp.LogPosition()
			if err != nil {
				return err
			}
			out[i] = RestoreResult{Partition: id, Restored: n, Position: pos.Next}
			return nil
		})
	}
	return out, g.Wait()
}

func allLed(parts []kafka.Partition) bool {
	for _, p := range parts {
		if p.Leader.Host == "" {
			return false
		}
	}
	return true
}
