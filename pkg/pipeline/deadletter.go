package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/journey-dev/journey/pkg/ingest"
)

// A dead letter is the original record (key, value, headers) plus
// headers naming the failure and the source. One that the dead-letter
// topic's max.message.bytes cannot carry is written truncated: without
// its value, with HeaderTruncated, HeaderValueBytes and HeaderValueSHA256
// (and, if still too big, without the original headers and key too), so
// the record that caused it can be found in its source partition and
// recognised, and the partition goes on instead of retrying forever.
//
// Run reads the topic's max.message.bytes at start (Pipeline.dlqMax); a
// dead letter whose estimated size comes within dlqMargin of it is
// truncated before it is sent, and one the broker refuses as too large
// anyway (MESSAGE_TOO_LARGE: the topic's limit was lowered meanwhile) is
// sent again alone, then truncated if it is refused alone.

// Dead-letter headers added to the original record's headers.
const (
	HeaderReason          = "journey_dlq_reason"
	HeaderMessage         = "journey_dlq_message"
	HeaderSourceTopic     = "journey_dlq_topic"
	HeaderSourcePartition = "journey_dlq_partition"
	HeaderSourceOffset    = "journey_dlq_offset"
	// HeaderTruncated is "true" on a dead letter written without its
	// value; HeaderValueBytes and HeaderValueSHA256 (hex) are the value's
	// length and hash.
	HeaderTruncated   = "journey_dlq_truncated"
	HeaderValueBytes  = "journey_dlq_value_bytes"
	HeaderValueSHA256 = "journey_dlq_value_sha256"
	// HeaderRedacted is "true" on a dead letter written without its value
	// because ingest.dlq_redact is on (HeaderValueBytes and
	// HeaderValueSHA256 describe the value).
	HeaderRedacted = "journey_dlq_redacted"
)

// dlqMargin is what a dead letter leaves under max.message.bytes for the
// record batch's framing (61 bytes and varints) and for the estimate's
// error.
const dlqMargin = 1 << 10

// minDLQBytes is the smallest max.message.bytes Run accepts on the
// dead-letter topic: a stripped dead letter (journey's headers, its
// message capped at maxDLQMessage) must fit.
const minDLQBytes = 4 << 10

// maxDLQMessage caps HeaderMessage in a stripped dead letter.
const maxDLQMessage = 1 << 10

// deadLetter is m as a dead letter for e.
func deadLetter(m *kafka.Message, e *ingest.Error) kafka.Message {
	hs := make([]kafka.Header, 0, len(m.Headers)+5)
	hs = append(hs, m.Headers...)
	hs = append(hs,
		kafka.Header{Key: HeaderReason, Value: []byte(e.Reason)},
		kafka.Header{Key: HeaderMessage, Value: []byte(e.Msg)},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: hs, Time: m.Time}
}

// deadLetterSize over-estimates m's bytes in a record batch: key, value,
// headers and each one's varint framing.
func deadLetterSize(m *kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 32
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// deadRecord is a dead letter on its way to the topic.
type deadRecord struct {
	m kafka.Message
	// level: 0 whole, 1 without its value, 2 stripped (journey's headers
	// only, no key).
	level int
	err   error // the last write's, if it failed
}

// redact takes the value out of the dead letter (ingest.dlq_redact): its
// length and hash in headers instead. The record is then at level 1.
func (d *deadRecord) redact() {
	if d.level > 0 {
		return
	}
	d.dropValue(HeaderRedacted)
	d.level = 1
}

// dropValue replaces the value by why ("true"), its length and its hash.
func (d *deadRecord) dropValue(why string) {
	sum := sha256.Sum256(d.m.Value)
	d.m.Headers = append(d.m.Headers[:len(d.m.Headers):len(d.m.Headers)],
		kafka.Header{Key: why, Value: []byte("true")},
		kafka.Header{Key: HeaderValueBytes, Value: []byte(strconv.Itoa(len(d.m.Value)))},
		kafka.Header{Key: HeaderValueSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
	d.m.Value = nil
}

// shrink takes the dead letter one level down: without its value (its
// length and hash in headers instead), then without the original
// record's headers and key.
func (d *deadRecord) shrink() {
	switch d.level {
	case 0:
		d.dropValue(HeaderTruncated)
	case 1:
		var hs []kafka.Header
		for _, h := range d.m.Headers {
			if strings.HasPrefix(h.Key, "journey_dlq_") {
				if h.Key == HeaderMessage && len(h.Value) > maxDLQMessage {
					h.Value = h.Value[:maxDLQMessage]
				}
				hs = append(hs, h)
			}
		}
		d.m.Headers, d.m.Key = hs, nil
	default:
		return
	}
	d.level++
}

// fit shrinks the dead letter until it fits in limit bytes (or cannot
// shrink more).
func (d *deadRecord) fit(limit int) {
	for d.level < 2 && deadLetterSize(&d.m) > limit {
		d.shrink()
	}
}

// writeDLQ writes dead letters, retrying until they are acknowledged or
// the worker is stopped (then the batch is not committed and is re-read
// later). It returns how many were written truncated.
func (w *worker) writeDLQ(ctx context.Context, msgs []kafka.Message) (truncated int, err error) {
	pending := make([]deadRecord, len(msgs))
	for i := range msgs {
		pending[i].m = msgs[i]
		if w.p.cfg.DLQRedact {
			pending[i].redact()
		}
		if w.p.dlqMax > 0 {
			pending[i].fit(w.p.dlqMax - dlqMargin)
		}
	}
	alone := false // once the broker refuses a batch as too large, write each record alone
	backoff := 100 * time.Millisecond
	for {
		var done []deadRecord
		pending, done = w.p.writeDead(pending, alone)
		for _, d := range done {
			if d.level > 0 && !(w.p.cfg.DLQRedact && d.level == 1) {
				truncated++
				w.log.Warn("dead letter truncated to fit the dead-letter topic's max.message.bytes",
					zap.String("topic", w.p.cfg.DLQTopic), zap.Int("max_message_bytes", w.p.dlqMax),
					zap.Int("level", d.level))
			}
		}
		if len(pending) == 0 {
			return truncated, nil
		}
		// A record refused as too large in a batch is sent again alone;
		// one refused alone is shrunk.
		wasAlone, retryNow := alone, false
		for i := range pending {
			switch {
			case !errors.Is(pending[i].err, kafka.MessageSizeTooLarge):
			case !wasAlone:
				alone, retryNow = true, true
			case pending[i].level < 2:
				pending[i].shrink()
				retryNow = true
			}
		}
		if retryNow {
			continue
		}
		w.log.Warn("dead-letter write failed; retrying", zap.Error(pending[0].err), zap.Int("records", len(pending)))
		select {
		case <-ctx.Done():
			return 0, errStopped
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// writeDead writes recs to the dead-letter topic, in one call or each
// alone, and returns those not acknowledged (with their error) and those
// that were.
func (p *Pipeline) writeDead(recs []deadRecord, alone bool) (failed, done []deadRecord) {
	write := func(rs []deadRecord) {
		msgs := make([]kafka.Message, len(rs))
		for i := range rs {
			msgs[i] = rs[i].m
		}
		wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := p.dlq.WriteMessages(wctx, msgs...)
		cancel()
		var wes kafka.WriteErrors
		if err != nil && !(errors.As(err, &wes) && len(wes) == len(rs)) {
			wes = make(kafka.WriteErrors, len(rs))
			for i := range wes {
				wes[i] = err
			}
		}
		for i := range rs {
			if i < len(wes) && wes[i] != nil {
				rs[i].err = wes[i]
				failed = append(failed, rs[i])
			} else {
				done = append(done, rs[i])
			}
		}
	}
	if !alone {
		write(recs)
		return failed, done
	}
	for i := range recs {
		write(recs[i : i+1])
	}
	return failed, done
}

// ensureDLQ creates the dead-letter topic, with the input's partition
// count, unless it exists; then reads its max.message.bytes, which bounds
// each dead letter and each batch of them.
func (p *Pipeline) ensureDLQ(ctx context.Context, partitions int) error {
	if _, ok := p.admin.Exists(ctx, p.cfg.DLQTopic); !ok {
		err := p.admin.CreateTopic(ctx, dlqTopicConfig(p.cfg.DLQTopic, partitions, -1))
		if err != nil {
			return fmt.Errorf("kafka.dlq_topic: %w", err)
		}
		p.log.Info("created dead-letter topic", zap.String("topic", p.cfg.DLQTopic), zap.Int("partitions", partitions))
	}
	n, err := p.admin.MaxMessageBytes(ctx, p.cfg.DLQTopic)
	if err != nil {
		return fmt.Errorf("kafka.dlq_topic: read %q's max.message.bytes: %w", p.cfg.DLQTopic, err)
	}
	if n < minDLQBytes {
		return fmt.Errorf("kafka.dlq_topic: %q has max.message.bytes=%d, under the %d bytes a dead letter's headers need; "+
			"raise it (kafka-configs --alter --entity-type topics --entity-name %s --add-config max.message.bytes=1048588)",
			p.cfg.DLQTopic, n, minDLQBytes, p.cfg.DLQTopic)
	}
	p.dlqMax = n
	// A batch of dead letters stays under the topic's bound too.
	p.dlq.BatchBytes = int64(n - dlqMargin)
	return nil
}
