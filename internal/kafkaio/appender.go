package kafkaio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	produceapi "github.com/segmentio/kafka-go/protocol/produce"
	"go.uber.org/zap"
)

// ErrStopped is returned by Append when its context ended (or the appender
// was closed) before the batch was acknowledged: it may or may not be in
// the log.
var ErrStopped = errors.New("kafkaio: stopped before the batch was acknowledged")

// AppenderConfig configures an Appender.
type AppenderConfig struct {
	Brokers []string
	// Topic is the topic every batch is appended to.
	Topic string
	// Compression of the produced record batches (0: none).
	Compression kafka.Compression
	// MaxBatchBytes bounds one batch (Check); 0: unbounded.
	MaxBatchBytes int
	// ValuePrefix is written before every value that is not a tombstone,
	// without copying the two together.
	ValuePrefix []byte
	Log         *zap.Logger
	// Appended, when set, is called after each acknowledged batch with the
	// time its successful produce request took.
	Appended func(partition, records int, took time.Duration)
	// Dialer, when set, carries the TLS and SASL of the produce
	// connections (TransportFor); nil: plaintext.
	Dialer *kafka.Dialer
}

// Record is one record of a batch: a nil Value with Tombstone set is
// Kafka's tombstone (a null value).
type Record struct {
	Key, Value []byte
	Tombstone  bool
}

// Appender appends record batches to the partitions of one topic: each
// Append is ONE record batch in one produce request, which Kafka appends
// all or nothing, acknowledged by every in-sync replica (acks=all).
//
// One goroutine (started by the first Append, stopped by Close) carries
// the batches of every partition waiting at the same moment in ONE produce
// request per leader broker, each partition's batch still one record
// batch. Up to appendInFlight requests are in flight at once, each on its
// own connection, so a batch ready while one request is out goes at once
// instead of waiting for its answer. A caller has at most one batch of a
// partition waiting (Append blocks), so no two requests in flight hold
// batches of one partition and each partition's batches reach the log in
// the order they were appended.
type Appender struct {
	cfg       AppenderConfig
	client    *kafka.Client
	transport *kafka.Transport

	reqs          chan *appendReq
	startAppender sync.Once
	stopOnce      sync.Once
	stopped       chan struct{}
}

// NewAppender returns an appender; it does no I/O until the first Append.
func NewAppender(cfg AppenderConfig) *Appender {
	t := TransportFor(cfg.Dialer, 10*time.Second)
	return &Appender{
		cfg: cfg, transport: t,
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: t},
		reqs:    make(chan *appendReq),
		stopped: make(chan struct{}),
	}
}

// Close stops the appender goroutine; appends after it fail with
// ErrStopped.
func (a *Appender) Close() {
	a.stopOnce.Do(func() { close(a.stopped) })
}

// BatchTooBigError is a batch over AppenderConfig.MaxBatchBytes, which one
// produce request could not carry.
type BatchTooBigError struct{ Partition, Size, Max int }

func (e *BatchTooBigError) Error() string {
	return fmt.Sprintf("a record batch of partition %d is %d bytes, over the bound of %d", e.Partition, e.Size, e.Max)
}

// size is what recs weigh against MaxBatchBytes: keys, values and the
// value prefix of each.
func (a *Appender) size(recs []Record) int {
	// The record batch's header, and each record's framing: its length,
	// attributes, timestamp and offset deltas, key and value lengths and
	// header count (varints; 21 bytes at most for the sizes a round has).
	const batchHeader, perRecord = 61, 21
	size := batchHeader
	for _, r := range recs {
		size += len(r.Key) + len(r.Value) + len(a.cfg.ValuePrefix) + perRecord
	}
	return size
}

// Check refuses a batch over MaxBatchBytes with a *BatchTooBigError.
func (a *Appender) Check(partition int, recs []Record) error {
	if size := a.size(recs); a.cfg.MaxBatchBytes > 0 && size > a.cfg.MaxBatchBytes {
		return &BatchTooBigError{Partition: partition, Size: size, Max: a.cfg.MaxBatchBytes}
	}
	return nil
}

// Append produces recs to partition as ONE record batch in one produce
// request, which Kafka appends all or nothing, and returns the offset after
// it. A failure is retried with the identical batch until it is
// acknowledged or ctx ends (ErrStopped: the batch may or may not be in the
// log). A batch over MaxBatchBytes is refused before anything is sent
// (*BatchTooBigError). The keys and values are read, not copied, until
// Append returns.
func (a *Appender) Append(ctx context.Context, partition int, recs []Record) (int64, error) {
	if len(recs) == 0 {
		return 0, errors.New("kafkaio: empty append")
	}
	if err := a.Check(partition, recs); err != nil {
		return 0, err
	}
	size := a.size(recs)
	krecs := make([]kafka.Record, len(recs))
	// Readers for every key and value in one allocation each (kafka.NewBytes
	// makes one per key and value), over the caller's bytes: a value is
	// read as the prefix then the value, never copied together.
	keys := make([]sliceBytes, len(recs))
	vals := make([]prefixedValue, len(recs))
	backoff := 50 * time.Millisecond
	for {
		// A kafka.Bytes is read once: every attempt rewinds them.
		for i := range recs {
			keys[i].Reset(recs[i].Key)
			krecs[i] = kafka.Record{Key: &keys[i]}
			if !recs[i].Tombstone {
				vals[i] = prefixedValue{prefix: a.cfg.ValuePrefix, v: recs[i].Value}
				krecs[i].Value = &vals[i] // a nil interface is a tombstone
			}
		}
		start := time.Now()
		base, err := a.produce(ctx, partition, krecs, size)
		if errors.Is(err, ErrStopped) {
			return 0, err
		}
		if errors.Is(err, kafka.MessageSizeTooLarge) {
			// The topic's max.message.bytes is under MaxBatchBytes (lowered
			// since the start): the same batch would be refused forever.
			// Nothing was appended; the caller splits the round.
			return 0, &BatchTooBigError{Partition: partition, Size: size, Max: a.cfg.MaxBatchBytes}
		}
		if err == nil {
			if a.cfg.Appended != nil {
				a.cfg.Appended(partition, len(recs), time.Since(start))
			}
			return base + int64(len(recs)), nil
		}
		a.cfg.Log.Warn("append failed; retrying the same batch", zap.String("topic", a.cfg.Topic),
			zap.Int("partition", partition), zap.Error(err), zap.Int("records", len(recs)))
		select {
		case <-ctx.Done():
			return 0, ErrStopped
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// sliceBytes is a kafka.Bytes over a slice (as kafka.NewBytes makes), so
// a batch's readers can be allocated together.
type sliceBytes struct{ bytes.Reader }

func (*sliceBytes) Close() error { return nil }

// prefixedValue is a record's value as a kafka.Bytes: prefix, then v.
type prefixedValue struct {
	prefix, v []byte
	off       int // bytes read, prefix included
}

func (r *prefixedValue) Len() int     { return len(r.prefix) + len(r.v) - r.off }
func (r *prefixedValue) Close() error { return nil }

func (r *prefixedValue) Read(p []byte) (int, error) {
	if r.Len() == 0 {
		return 0, io.EOF
	}
	n := 0
	if r.off < len(r.prefix) {
		n = copy(p, r.prefix[r.off:])
		r.off += n
		if r.off < len(r.prefix) {
			return n, nil
		}
	}
	m := copy(p[n:], r.v[r.off-len(r.prefix):])
	r.off += m
	return n + m, nil
}

// WriteTo writes what is left to w (io.Copy, as kafka-go encodes a value,
// uses it).
func (r *prefixedValue) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if r.off < len(r.prefix) {
		k, err := w.Write(r.prefix[r.off:])
		n += int64(k)
		r.off += k
		if err != nil {
			return n, err
		}
	}
	k, err := w.Write(r.v[r.off-len(r.prefix):])
	n += int64(k)
	r.off += k
	return n, err
}

// appendReq is one partition's batch waiting for the appender goroutine.
type appendReq struct {
	partition int
	recs      []kafka.Record
	size      int
	done      chan appendRes // cap 1: the appender never waits for the caller
}

type appendRes struct {
	base int64
	err  error
}

// maxAppendRequest bounds the bytes of one produce request the appender
// builds from several partitions' batches (the broker refuses requests over
// socket.request.max.bytes, 100 MiB by default); a single batch may be
// larger, up to MaxBatchBytes, and then goes alone.
const maxAppendRequest = 16 << 20

// appendInFlight bounds the appender's produce requests in flight.
const appendInFlight = 2

// produce hands one record batch of partition to the appender goroutine
// and waits for the broker's answer: the batch's base offset. ErrStopped
// when ctx ends before the batch was handed over (then it was never sent).
func (a *Appender) produce(ctx context.Context, partition int, recs []kafka.Record, size int) (int64, error) {
	a.startAppender.Do(func() { go a.run() })
	req := &appendReq{partition: partition, recs: recs, size: size, done: make(chan appendRes, 1)}
	select {
	case a.reqs <- req:
	case <-ctx.Done():
		return 0, ErrStopped
	case <-a.stopped:
		return 0, ErrStopped
	}
	// Once sent, the answer is awaited whatever ctx does: the batch may be
	// in the log, and the caller must know.
	res := <-req.done
	return res.base, res.err
}

// run is the appender goroutine: it gathers the waiting batches into
// requests of at most maxAppendRequest bytes, at most appendInFlight of
// them at once, until Close.
func (a *Appender) run() {
	var pending []*appendReq
	leaders := &leaderCache{a: a, m: map[int]int{}}
	slots := make(chan struct{}, appendInFlight)
	var sending sync.WaitGroup
	defer sending.Wait()
	for {
		if len(pending) == 0 {
			select {
			case r := <-a.reqs:
				pending = append(pending, r)
			case <-a.stopped:
				return
			}
		}
		// A free slot; what arrives meanwhile joins the request. (Not
		// stopped here: a taken request is always answered.)
		for taken := false; !taken; {
			select {
			case slots <- struct{}{}:
				taken = true
			case r := <-a.reqs:
				pending = append(pending, r)
			}
		}
	drain:
		for {
			select {
			case r := <-a.reqs:
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
			a.send(batch, leaders)
		})
	}
}

// leaderCache is the appender's partition -> leader broker map, shared by
// the requests in flight.
type leaderCache struct {
	a  *Appender
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
	if err := l.a.lookupLeaders(l.m); err != nil {
		return 0, err
	}
	id, ok := l.m[partition]
	if !ok {
		return 0, fmt.Errorf("kafkaio: %s partition %d has no leader", l.a.cfg.Topic, partition)
	}
	return id, nil
}

// forget drops what is known: looked up again with the next batch.
func (l *leaderCache) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.m)
}

// lookupLeaders fills leaders (partition -> broker id) from the metadata.
func (a *Appender) lookupLeaders(leaders map[int]int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ls, err := partitionLeaders(ctx, a.client, a.cfg.Topic)
	if err != nil {
		return fmt.Errorf("kafkaio: %w", err)
	}
	maps.Copy(leaders, ls)
	return nil
}

// send produces batch, one request per leader (concurrently when the
// partitions' leaders differ), and answers every request in it.
func (a *Appender) send(batch []*appendReq, leaders *leaderCache) {
	byLeader := map[int][]*appendReq{}
	for _, r := range batch {
		l, err := leaders.leader(r.partition)
		if err != nil {
			r.done <- appendRes{err: err}
			continue
		}
		byLeader[l] = append(byLeader[l], r)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	stale := false
	for _, reqs := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a.sendTo(reqs) {
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
func (a *Appender) sendTo(reqs []*appendReq) (stale bool) {
	parts := make([]produceapi.RequestPartition, len(reqs))
	for i, r := range reqs {
		parts[i] = produceapi.RequestPartition{Partition: int32(r.partition), RecordSet: protocol.RecordSet{
			Attributes: protocol.Attributes(a.cfg.Compression) & 0x7, Records: kafka.NewRecordReader(r.recs...),
		}}
	}
	req := &produceapi.Request{Acks: int16(kafka.RequireAll), Timeout: 30_000,
		Topics: []produceapi.RequestTopic{{Topic: a.cfg.Topic, Partitions: parts}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := a.transport.RoundTrip(ctx, kafka.TCP(a.cfg.Brokers...), req)
	var res *produceapi.Response
	if err == nil {
		var ok bool
		if res, ok = m.(*produceapi.Response); !ok {
			err = fmt.Errorf("kafkaio: unexpected produce response %T", m)
		}
	}
	if err != nil {
		for _, r := range reqs {
			r.done <- appendRes{err: err}
		}
		return true
	}
	answered := map[int]bool{}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			for _, r := range reqs {
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
	for _, r := range reqs {
		if !answered[r.partition] {
			r.done <- appendRes{err: fmt.Errorf("kafkaio: no answer for partition %d", r.partition)}
		}
	}
	return stale
}
