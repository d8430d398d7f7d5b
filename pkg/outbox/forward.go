package outbox

import (
	"context"
	"encoding/binary"
	"time"
)

// KindForward is an outbox entry that is a record for another partition
// of the repartition topic (identity routing, see DESIGN.md): an event
// whose canonical customer lives there, a link, or a merged customer's
// state. It is committed with the state that decided it, then produced by
// the dispatcher through its Forwarder, so a crash never loses one nor
// produces one its round did not commit; a dispatcher redelivering after a
// crash produces one again, which the receiving partition drops (event ids
// are de-duplicated, links and merges are idempotent).
const KindForward byte = 'F'

// KindForwardAfter is a forwarded record produced only once the sink has
// taken every trigger and context update before it in the outbox: a
// record that tells others the delivery happened (the forget ledger's
// entry of an erased customer, after its Redis erase). Same encoding as
// KindForward.
const KindForwardAfter byte = 'A'

// Forward is one record for a partition of the repartition topic.
type Forward struct {
	Partition int
	Time      time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Forwarder produces forwarded records, in order, acknowledged by every
// replica, before it returns nil. Errors are retried by the dispatcher.
type Forwarder interface {
	Forward(ctx context.Context, fs []Forward) error
}

// EncodeForward encodes f for the outbox (kind KindForward):
//
//	partition(uvarint) time(varint ns) key value headers(uvarint count, key value)
func EncodeForward(f *Forward) []byte {
	n := 24 + len(f.Key) + len(f.Value)
	for _, h := range f.Headers {
		n += 4 + len(h.Key) + len(h.Value)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(f.Partition))
	b = binary.AppendVarint(b, f.Time.UnixNano())
	b = appendBytes(b, f.Key)
	b = appendBytes(b, f.Value)
	b = binary.AppendUvarint(b, uint64(len(f.Headers)))
	for _, h := range f.Headers {
		b = appendBytes(appendString(b, h.Key), h.Value)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

func decodeForward(b []byte) (Forward, error) {
	r := reader{b: b}
	f := Forward{Partition: int(r.uvarint())}
	f.Time = time.Unix(0, r.varint()).UTC()
	f.Key, f.Value = r.bytes(), r.bytes()
	if n := r.count(2); n > 0 {
		f.Headers = make([]Header, n)
		for i := range f.Headers {
			f.Headers[i] = Header{Key: r.string(), Value: r.bytes()}
		}
	}
	if err := r.done(); err != nil {
		return Forward{}, err
	}
	return f, nil
}
