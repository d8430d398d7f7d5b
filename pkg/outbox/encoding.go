package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
)

// The binary outbox encodings. Strings are a uvarint length then bytes;
// times are varint Unix nanoseconds; the trigger payload stays JSON (it is
// what the sink writes to the stream).
//
//	trigger: enqueued(varint ms) id rule customer channel reason at(varint ns)
//	         causes(uvarint count, strings) payload(string: JSON, empty when none)
//	context: enqueued(varint ms) customer delete(byte 0|1)
//	         fields(uvarint count, key value strings)

var errCorrupt = errors.New("corrupt entry")

// EncodeTrigger encodes t for the outbox (kind KindTrigger), with its
// payload as PayloadJSON holds it when set; recordTime is when the causing
// record entered Kafka.
func EncodeTrigger(t *journey.Trigger, recordTime time.Time) ([]byte, error) {
	payload := t.PayloadJSON
	if payload == nil && len(t.Payload) > 0 {
		var err error
		if payload, err = json.Marshal(t.Payload); err != nil {
			return nil, err
		}
	}
	n := 32 + len(t.ID) + len(t.Rule) + len(t.CustomerID) + len(t.Channel) + len(t.Reason) + len(payload)
	for _, c := range t.Causes {
		n += 2 + len(c)
	}
	b := make([]byte, 0, n)
	b = binary.AppendVarint(b, unixMilli(recordTime))
	for _, s := range [...]string{t.ID, t.Rule, t.CustomerID, t.Channel, t.Reason} {
		b = appendString(b, s)
	}
	at := int64(math.MinInt64) // the zero time
	if !t.At.IsZero() {
		at = t.At.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(t.Causes)))
	for _, c := range t.Causes {
		b = appendString(b, c)
	}
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...), nil
}

// EncodeContext encodes a context update for the outbox (kind
// KindContext); recordTime is when the oldest record whose effect it
// carries entered Kafka.
func EncodeContext(c sink.Context, recordTime time.Time) ([]byte, error) {
	n := 16 + len(c.CustomerID)
	for k, v := range c.Fields {
		n += 4 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = binary.AppendVarint(b, unixMilli(recordTime))
	b = appendString(b, c.CustomerID)
	if c.Delete || c.Forget {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	if c.Forget {
		// A deletion with this one field: a build without Forget reads it
		// as a deletion (the sink ignores a deletion's fields).
		b = binary.AppendUvarint(b, 1)
		return appendString(appendString(b, forgetField), "1"), nil
	}
	b = binary.AppendUvarint(b, uint64(len(c.Fields)))
	for k, v := range c.Fields {
		b = appendString(appendString(b, k), v)
	}
	return b, nil
}

// forgetField marks a context deletion as a forget (sink.Context.Forget).
// No processor's field starts with a NUL byte.
const forgetField = "\x00forget"

// EncodeContextParts encodes the context update of a customer whose fields
// come in parts (journey.Engine.ContextParts), as EncodeContext would the
// merged map; a key in several parts keeps the last part's value.
func EncodeContextParts(customerID string, parts []map[string]string, recordTime time.Time) []byte {
	n, count := 16+len(customerID), 0
	for _, part := range parts {
		for k, v := range part {
			n += 4 + len(k) + len(v)
			count++
		}
	}
	b := make([]byte, 0, n)
	b = binary.AppendVarint(b, unixMilli(recordTime))
	b = appendString(b, customerID)
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(count))
	for _, part := range parts {
		for k, v := range part {
			b = appendString(appendString(b, k), v)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// reader decodes the binary encodings; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

// count reads an element count, refusing one the remaining bytes cannot
// hold (each element takes at least min bytes).
func (r *reader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = errCorrupt
		return 0
	}
	return int(n)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	return r.err
}

func decodeTrigger(b []byte) (journey.Trigger, int64, error) {
	r := reader{b: b}
	enq := r.varint()
	t := journey.Trigger{ID: r.string(), Rule: r.string(), CustomerID: r.string(), Channel: r.string(), Reason: r.string()}
	at := r.varint()
	if n := r.count(1); n > 0 {
		t.Causes = make([]string, n)
		for i := range t.Causes {
			t.Causes[i] = r.string()
		}
	}
	payload := r.bytes()
	if err := r.done(); err != nil {
		return journey.Trigger{}, 0, err
	}
	if at != math.MinInt64 {
		t.At = time.Unix(0, at).UTC()
	}
	if len(payload) > 0 {
		// json.Marshal wrote it (EncodeTrigger), and the sink writes it as
		// it is: checked, not decoded. It aliases b, which the dispatcher
		// owns (state.OutboxEntry.Data is a copy).
		if payload[0] != '{' || !json.Valid(payload) {
			return journey.Trigger{}, 0, errCorrupt
		}
		t.PayloadJSON = payload
	}
	return t, enq, nil
}

func decodeContext(b []byte) (sink.Context, int64, error) {
	r := reader{b: b}
	enq := r.varint()
	c := sink.Context{CustomerID: r.string()}
	if del := r.bytes1(); del > 1 {
		r.err = errCorrupt
	} else {
		c.Delete = del == 1
	}
	if n := r.count(2); n > 0 {
		c.Fields = make(map[string]string, n)
		for range n {
			k := r.string()
			c.Fields[k] = r.string()
		}
	}
	if _, ok := c.Fields[forgetField]; ok && c.Delete {
		c.Forget, c.Fields = true, nil
	}
	if err := r.done(); err != nil {
		return sink.Context{}, 0, err
	}
	return c, enq, nil
}

func (r *reader) bytes1() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}
