package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchapi "github.com/segmentio/kafka-go/protocol/fetch"
	"go.uber.org/zap"
)

// Fetcher reads every subscribed partition of the instance with ONE fetch
// request per broker at a time, as the Java consumer does, instead of a
// kafka-go Reader per partition with a fetch loop each. With MinBytes 1 a
// fetch returns as soon as the producer appends anything, so a loop per
// partition would make one request per partition where one request serves
// them all, multiplying the requests the broker answers.
//
// Goroutines: one loop per partition leader (it owns the requests to that
// broker and the fetch positions of the partitions it serves while a
// request is in flight), and one forwarder per subscription, which hands
// fetched records one by one to the subscriber's channel. A partition with two
// fetched batches waiting for its forwarder is left out of the next request
// (paused), so a slow partition never holds up the others and memory stays
// bounded: at most three fetch responses per partition besides the
// subscriber's channel.
type Fetcher struct {
	client    *kafka.Client
	transport *kafka.Transport
	addr      []string
	log       *zap.Logger
	maxBytes  int32
	maxQueued int64 // 0: no bound but maxBytes
	maxWait   time.Duration
	fetched   prometheus.Observer // nil: not observed

	ctx    context.Context // ends with the pipeline
	cancel context.CancelFunc

	mu      sync.Mutex
	subs    map[*subscription]struct{}
	loops   map[int]bool // leader ids with a loop
	changed chan struct{}
	loopsWG sync.WaitGroup
}

// maxFetchResponse bounds one fetch response (the records of every
// partition in it); a larger one only made each round longer.
const maxFetchResponse = 16 << 20

// pausedMaxWait is how long a fetch may wait at the broker while a
// partition left out of it is paused.
const pausedMaxWait = 10 * time.Millisecond

// subscription is one topic partition being fetched for a subscriber.
type subscription struct {
	topic     string
	partition int
	ctx       context.Context
	// next, leader, busy, retryAt: guarded by fetcher.mu.
	next    int64
	leader  int // -1: unknown, to look up
	busy    bool
	retryAt time.Time
	// queue holds fetched batches for the forwarder. Two: the batch just
	// fetched is usually still here when the loop builds its next request,
	// and the partition must not be left out of that one for it (the
	// request would then wait fetch_max_wait on the others); a partition
	// is paused only when its subscriber is really behind.
	queue chan []kafka.Message
}

// FetcherConfig configures a Fetcher.
type FetcherConfig struct {
	Brokers []string
	// MaxBytes bounds what one partition may return in one fetch.
	MaxBytes int
	// MaxQueued, when set, bounds the bytes fetched ahead of the
	// subscribers, over every subscription: a partition may return at
	// most its share of a third of it in one fetch (a partition holds up
	// to two responses queued and one in flight), within MaxBytes and
	// no less than minPartitionBytes.
	MaxQueued int64
	// MaxWait bounds how long the broker holds a fetch at the end of the
	// partitions in it; a fetch still returns as soon as a record arrives.
	MaxWait time.Duration
	Log     *zap.Logger
	// Fetched, when set, observes the age of each partition's last fetched
	// record (seconds).
	Fetched prometheus.Observer
	// Dialer, when set, carries the TLS and SASL of the fetch
	// connections (TransportFor); nil: plaintext.
	Dialer *kafka.Dialer
}

// NewFetcher returns a fetcher with no subscriptions; it does no I/O until
// the first Subscribe. Close it once every subscription has ended.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	ctx, cancel := context.WithCancel(context.Background())
	t := TransportFor(cfg.Dialer, 10*time.Second)
	return &Fetcher{
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: t},
		transport: t,
		addr:      cfg.Brokers,
		log:       cfg.Log,
		maxBytes:  int32(cfg.MaxBytes),
		maxQueued: cfg.MaxQueued,
		maxWait:   cfg.MaxWait,
		fetched:   cfg.Fetched,
		ctx:       ctx,
		cancel:    cancel,
		subs:      map[*subscription]struct{}{},
		loops:     map[int]bool{},
		changed:   make(chan struct{}),
	}
}

// Close stops every loop. Subscriptions must have ended.
func (f *Fetcher) Close() {
	f.cancel()
	f.loopsWG.Wait()
	f.transport.CloseIdleConnections()
}

// wakeLocked wakes every loop waiting for work. f.mu is held.
func (f *Fetcher) wakeLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fetcher) wake() {
	f.mu.Lock()
	f.wakeLocked()
	f.mu.Unlock()
}

// Subscribe fetches topic's partition from offset (kafka.FirstOffset and
// kafka.LastOffset are looked up) and sends its records, in order, to out
// until ctx ends. The returned channel is closed once nothing more will be
// sent to out. Each record's HighWaterMark is the partition's high
// watermark when it was fetched, except that a record followed only by
// control batches (transaction markers) reads as the last one
// (HighWaterMark = Offset+1): nothing more is coming.
func (f *Fetcher) Subscribe(ctx context.Context, topic string, partition int, offset int64, out chan<- kafka.Message) (<-chan struct{}, error) {
	if offset < 0 {
		first, last, err := f.offsets(ctx, topic, partition)
		if err != nil {
			return nil, err
		}
		if offset == kafka.FirstOffset {
			offset = first
		} else {
			offset = last
		}
	}
	s := &subscription{topic: topic, partition: partition, ctx: ctx, next: offset, leader: -1,
		queue: make(chan []kafka.Message, 2)}
	stopped := make(chan struct{})
	go func() { // the forwarder
		defer close(stopped)
		defer func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case batch := <-s.queue:
				if len(s.queue) == cap(s.queue)-1 {
					f.wake() // it was full (paused): the partition is fetched again
				}
				for i := range batch {
					select {
					case out <- batch[i]:
					case <-ctx.Done():
						return
					}
				}
				recycle(batch)
			}
		}
	}()
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.wakeLocked()
	f.mu.Unlock()
	go f.locate(s)
	return stopped, nil
}

// offsets returns the first and the next offset of a partition,
// retrying until ctx ends: a broker under load answered a new topic's
// ListOffsets with UNKNOWN_SERVER_ERROR, and failing the partition for it
// stopped the whole instance.
func (f *Fetcher) offsets(ctx context.Context, topic string, partition int) (first, last int64, _ error) {
	return offsetsRetrying(ctx, f.client, f.log, topic, partition, 0)
}

// locate looks up the leader of s's partition, retrying until it has one
// or s ends, and starts that leader's loop if it has none.
func (f *Fetcher) locate(s *subscription) {
	backoff := 100 * time.Millisecond
	for {
		leader, err := f.leaderOf(s.ctx, s.topic, s.partition)
		if err == nil {
			f.mu.Lock()
			s.leader = leader
			if !f.loops[leader] {
				f.loops[leader] = true
				f.loopsWG.Add(1)
				go f.loop(leader)
			}
			f.wakeLocked()
			f.mu.Unlock()
			return
		}
		if s.ctx.Err() != nil || f.ctx.Err() != nil {
			return
		}
		f.log.Warn("fetch: no leader yet", zap.String("topic", s.topic), zap.Int("partition", s.partition), zap.Error(err))
		select {
		case <-s.ctx.Done():
			return
		case <-f.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (f *Fetcher) leaderOf(ctx context.Context, topic string, partition int) (int, error) {
	leaders, err := partitionLeaders(ctx, f.client, topic)
	if err != nil {
		return 0, err
	}
	l, ok := leaders[partition]
	if !ok {
		return 0, fmt.Errorf("partition %d of %s has no leader", partition, topic)
	}
	return l, nil
}

// loop serves the partitions whose leader is leader: one fetch request at
// a time for all of them that have room, until the fetcher closes.
func (f *Fetcher) loop(leader int) {
	defer f.loopsWG.Done()
	var mem slab // this loop's; carried across responses
	for {
		f.mu.Lock()
		var batch []*subscription
		var wait time.Duration = -1
		paused := false
		now := time.Now()
		for s := range f.subs {
			if s.leader != leader || s.busy || s.ctx.Err() != nil {
				continue
			}
			if len(s.queue) == cap(s.queue) {
				paused = true
				continue
			}
			if d := s.retryAt.Sub(now); d > 0 {
				if wait < 0 || d < wait {
					wait = d
				}
				continue
			}
			s.busy = true
			batch = append(batch, s)
		}
		changed := f.changed
		partMax := f.partitionMaxBytes(len(f.subs))
		f.mu.Unlock()
		if len(batch) == 0 {
			var timer <-chan time.Time
			if wait >= 0 {
				timer = time.After(wait)
			}
			select {
			case <-f.ctx.Done():
				return
			case <-changed:
			case <-timer:
			}
			continue
		}
		// While a partition is paused the request must not sit on the
		// broker for fetch_max_wait: the partition may be free again long
		// before, and it is not in this request.
		maxWait := f.maxWait
		if paused {
			maxWait = min(maxWait, pausedMaxWait)
		}
		f.fetch(batch, maxWait, partMax, &mem)
		f.mu.Lock()
		for _, s := range batch {
			s.busy = false
		}
		f.mu.Unlock()
		if f.ctx.Err() != nil {
			return
		}
	}
}

// fetch sends one fetch request for batch and hands what it returns to the
// subscriptions' forwarders.
func (f *Fetcher) fetch(batch []*subscription, maxWait time.Duration, partMax int32, mem *slab) {
	byTopic := map[string][]fetchapi.RequestPartition{}
	var topics []string
	// Each partition may return up to partMax, as a Reader per partition
	// could; the response as a whole is capped at maxFetchResponse, so
	// the loop is not busy decoding one for long.
	total := min(int64(partMax)*int64(len(batch)), maxFetchResponse)
	for _, s := range batch {
		if _, ok := byTopic[s.topic]; !ok {
			topics = append(topics, s.topic)
		}
		byTopic[s.topic] = append(byTopic[s.topic], fetchapi.RequestPartition{
			Partition: int32(s.partition), CurrentLeaderEpoch: -1, FetchOffset: s.next, LogStartOffset: -1,
			PartitionMaxBytes: partMax,
		})
	}
	req := &fetchapi.Request{ReplicaID: -1, MaxWaitTime: int32(maxWait / time.Millisecond), MinBytes: 1,
		MaxBytes: int32(total), SessionID: -1, SessionEpoch: -1}
	for _, t := range topics {
		req.Topics = append(req.Topics, fetchapi.RequestTopic{Topic: t, Partitions: byTopic[t]})
	}
	ctx, cancel := context.WithTimeout(f.ctx, maxWait+30*time.Second)
	defer cancel()
	m, err := f.transport.RoundTrip(ctx, kafka.TCP(f.addr...), req)
	if err != nil {
		if f.ctx.Err() != nil {
			return
		}
		f.log.Warn("fetch failed; retrying", zap.Int("partitions", len(batch)), zap.Error(err))
		f.retry(batch, true)
		return
	}
	res, ok := m.(*fetchapi.Response)
	if !ok {
		f.log.Warn("fetch: unexpected response", zap.String("type", fmt.Sprintf("%T", m)))
		f.retry(batch, true)
		return
	}
	if res.ErrorCode != 0 {
		f.log.Warn("fetch failed; retrying", zap.Error(kafka.Error(res.ErrorCode)))
		f.retry(batch, true)
		return
	}
	subs := map[string]map[int]*subscription{}
	for _, s := range batch {
		if subs[s.topic] == nil {
			subs[s.topic] = map[int]*subscription{}
		}
		subs[s.topic][s.partition] = s
	}
	for _, t := range res.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			s := subs[t.Topic][int(p.Partition)]
			if s == nil {
				continue
			}
			if err := f.take(s, t.Topic, p, mem); err != nil {
				if s.ctx.Err() == nil {
					f.log.Warn("fetch", zap.String("topic", s.topic), zap.Int("partition", s.partition), zap.Error(err))
				}
			}
		}
	}
}

// minPartitionBytes is the least a partition may return in one fetch under
// MaxQueued (a record larger than the bound still comes whole: the broker
// returns a partition's first batch whatever the size).
const minPartitionBytes = 64 << 10

// partitionMaxBytes is what a partition may return in one fetch with subs
// subscriptions.
func (f *Fetcher) partitionMaxBytes(subs int) int32 {
	if f.maxQueued <= 0 || subs == 0 {
		return f.maxBytes
	}
	return int32(min(int64(f.maxBytes), max(f.maxQueued/3/int64(subs), minPartitionBytes)))
}

// retry makes the subscriptions wait a moment before their next fetch,
// and look their leader up again when relocate is set.
func (f *Fetcher) retry(batch []*subscription, relocate bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range batch {
		f.retryLocked(s, relocate)
	}
}

func (f *Fetcher) retryLocked(s *subscription, relocate bool) {
	s.retryAt = time.Now().Add(200 * time.Millisecond)
	if relocate && s.leader >= 0 {
		s.leader = -1
		go f.locate(s)
	}
}

// take hands one partition's part of a fetch response to its forwarder.
func (f *Fetcher) take(s *subscription, topic string, p *fetchapi.ResponsePartition, mem *slab) error {
	if p.ErrorCode != 0 {
		return f.partitionError(s, kafka.Error(p.ErrorCode))
	}
	if p.RecordSet.Records == nil {
		return nil
	}
	msgs, next, err := f.records(s, topic, p, mem)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		recycle(msgs)
		f.mu.Lock()
		s.next = next
		f.mu.Unlock()
		return nil
	}
	if next >= p.HighWatermark {
		// Nothing left to read (what follows the last record, if
		// anything, is a marker): the subscriber must not wait for more.
		msgs[len(msgs)-1].HighWaterMark = msgs[len(msgs)-1].Offset + 1
	}
	if f.fetched != nil {
		f.fetched.Observe(time.Since(msgs[len(msgs)-1].Time).Seconds())
	}
	f.mu.Lock()
	s.next = next
	f.mu.Unlock()
	s.queue <- msgs // never blocks: the loop only fetches a partition whose queue has room
	return nil
}

// partitionError handles a partition's error in a fetch response: an
// offset out of range moves or holds the position (outOfRange), a leader
// error makes the partition look its leader up again, any other is
// retried in a moment.
func (f *Fetcher) partitionError(s *subscription, err kafka.Error) error {
	switch err {
	case kafka.OffsetOutOfRange:
		return f.outOfRange(s)
	case kafka.NotLeaderForPartition, kafka.UnknownTopicOrPartition, kafka.LeaderNotAvailable,
		kafka.ReplicaNotAvailable, kafka.KafkaStorageError, kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch:
		f.mu.Lock()
		f.retryLocked(s, true)
		f.mu.Unlock()
		return err
	}
	f.mu.Lock()
	f.retryLocked(s, false)
	f.mu.Unlock()
	return err
}

// records reads the records of one partition's part of a fetch response,
// from s's position on, copying keys and values into mem, and returns
// them with the position after them. The record batches are read one by
// one: a control batch (a transaction's commit or abort marker) holds no
// record to hand on, but its offset is passed, or a partition ending in
// one would be fetched again and again at once.
func (f *Fetcher) records(s *subscription, topic string, p *fetchapi.ResponsePartition, mem *slab) ([]kafka.Message, int64, error) {
	msgs := batchSlice()
	next := s.next
	readers := []protocol.RecordReader{p.RecordSet.Records}
	if st, ok := p.RecordSet.Records.(*protocol.RecordStream); ok {
		readers = st.Records
	}
	rr := 0
	for rr < len(readers) {
		r, err := readers[rr].ReadRecord()
		if errors.Is(err, io.EOF) {
			rr++
			continue
		}
		if err != nil {
			f.mu.Lock()
			f.retryLocked(s, false)
			f.mu.Unlock()
			recycle(msgs)
			return nil, 0, fmt.Errorf("reading records at offset %d: %w", next, err)
		}
		if _, control := readers[rr].(*protocol.ControlBatch); control || r.Offset < next {
			// A marker, or a compressed batch starting before the offset
			// asked for.
			closeBytes(r.Key)
			closeBytes(r.Value)
			next = max(next, r.Offset+1)
			continue
		}
		m := kafka.Message{Topic: topic, Partition: s.partition, Offset: r.Offset, Time: r.Time, HighWaterMark: p.HighWatermark}
		if m.Key, err = mem.read(r.Key); err == nil {
			m.Value, err = mem.read(r.Value)
		}
		// Copied: the response's pages go back to kafka-go's pool instead
		// of waiting for the collector.
		closeBytes(r.Key)
		closeBytes(r.Value)
		if err != nil {
			return nil, 0, fmt.Errorf("reading record %d: %w", r.Offset, err)
		}
		if len(r.Headers) > 0 {
			m.Headers = make([]kafka.Header, len(r.Headers))
			for i, h := range r.Headers {
				m.Headers[i] = kafka.Header(h)
			}
		}
		msgs = append(msgs, m)
		next = r.Offset + 1
	}
	return msgs, next, nil
}

// outOfRange handles a subscription whose offset the log no longer (or
// not yet) has: it moves to the log start when its records were deleted by
// retention (they are lost, and logged as such), and waits when it is past
// the log's end.
func (f *Fetcher) outOfRange(s *subscription) error {
	first, last, err := f.offsets(s.ctx, s.topic, s.partition)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.retryLocked(s, true)
		return err
	}
	switch {
	case s.next < first:
		f.log.Error("fetch: records deleted by retention before they were read; skipping them",
			zap.String("topic", s.topic), zap.Int("partition", s.partition), zap.Int64("from", s.next),
			zap.Int64("to", first), zap.Int64("records", first-s.next))
		s.next = first
	case s.next > last:
		// As kafka-go's Reader does: keep the position and try again
		// (the log may not have caught up yet; if the topic was
		// recreated, someone must decide what the state is worth).
		f.log.Error("fetch: position past the end of the log (was the topic recreated?); waiting for it",
			zap.String("topic", s.topic), zap.Int("partition", s.partition), zap.Int64("position", s.next),
			zap.Int64("end", last))
		s.retryAt = time.Now().Add(time.Second)
	default:
		f.retryLocked(s, false)
	}
	return nil
}

func closeBytes(b protocol.Bytes) {
	if b != nil {
		_ = b.Close()
	}
}

// batches recycles the slices that carry fetched records from the fetch
// loop to a forwarder: a kafka.Message is large, and a response of
// thousands of records would otherwise grow a fresh slice by doubling.
var batches sync.Pool

func batchSlice() []kafka.Message {
	if b, ok := batches.Get().(*[]kafka.Message); ok {
		return (*b)[:0]
	}
	return make([]kafka.Message, 0, 256)
}

// recycle returns a batch whose records were all sent on, without a
// reference to them.
func recycle(b []kafka.Message) {
	if cap(b) > 1<<16 {
		return
	}
	clear(b) // beyond len, every element is zero already
	b = b[:0]
	batches.Put(&b)
}

// slab hands out the keys and values of fetched records from shared
// chunks, so a record costs no allocation of its own. A fetch loop keeps
// one across responses: a fresh chunk per response would cost a 64 KiB
// zeroed allocation for every few records when traffic is light. A chunk
// lives while any record carved from it does: the records of a few
// batches, which the subscribers drop once they are done with them (a
// subscriber copies what it keeps).
type slab struct{ buf []byte }

// slabChunk is a chunk's size; a larger key or value gets its own.
const slabChunk = 64 << 10

// read copies b into the slab (nil for a null key or value).
func (s *slab) read(b protocol.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	n := b.Len()
	if n > cap(s.buf)-len(s.buf) {
		if n > slabChunk/4 {
			return protocol.ReadAll(b)
		}
		s.buf = make([]byte, 0, slabChunk)
	}
	start := len(s.buf)
	s.buf = s.buf[:start+n]
	dst := s.buf[start : start+n : start+n]
	_, err := io.ReadFull(b, dst)
	return dst, err
}
