package ingest

import (
	"strings"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is the part of a Kafka record the decoder reads. The decoder
// neither modifies it nor keeps a reference to its slices.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Time is the Kafka record timestamp, the event time of last resort.
	Time time.Time
}

// header returns the value of the first header named key (compared without
// regard to case) and whether there is one.
func (r *Record) header(key string) ([]byte, bool) {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Key, key) {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// size is the record's size as MaxBytes counts it: key, value and headers.
func (r *Record) size() int {
	n := len(r.Key) + len(r.Value)
	for i := range r.Headers {
		n += len(r.Headers[i].Key) + len(r.Headers[i].Value)
	}
	return n
}
