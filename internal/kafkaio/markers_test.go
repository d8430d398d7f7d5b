package kafkaio

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchapi "github.com/segmentio/kafka-go/protocol/fetch"
)

// response is a fetch response's part for one partition: the record
// batches given, the partition's high watermark hwm.
func response(hwm int64, batches ...protocol.RecordReader) *fetchapi.ResponsePartition {
	return &fetchapi.ResponsePartition{HighWatermark: hwm,
		RecordSet: protocol.RecordSet{Version: 2, Records: &protocol.RecordStream{Records: batches}}}
}

func dataBatch(offsets ...int64) protocol.RecordReader {
	recs := make([]protocol.Record, len(offsets))
	for i, o := range offsets {
		recs[i] = protocol.Record{Offset: o, Value: protocol.NewBytes([]byte(fmt.Sprint(o)))}
	}
	return &protocol.RecordBatch{Records: protocol.NewRecordReader(recs...)}
}

// marker is a transaction's commit marker at offset.
func marker(offset int64) protocol.RecordReader {
	return &protocol.ControlBatch{Records: protocol.NewRecordReader(protocol.Record{
		Offset: offset, Key: protocol.NewBytes([]byte{0, 0, 0, 1}), Value: protocol.NewBytes([]byte{0, 0, 0, 0, 0, 0})})}
}

// A transactional producer's commit markers are control batches: never
// handed on as records, but passed — a partition ending in one is not
// fetched from the marker again and again, and its last record reads as
// caught up, so a subscriber does not wait for records that will not
// come.
func TestFetcherPassesTransactionMarkers(t *testing.T) {
	f := &Fetcher{}
	s := &subscription{topic: "in", next: 0, queue: make(chan []kafka.Message, 4)}
	var mem slab
	if err := f.take(s, "in", response(4, dataBatch(0, 1), marker(2), dataBatch(3)), &mem); err != nil {
		t.Fatal(err)
	}
	got := <-s.queue
	if len(got) != 3 || got[0].Offset != 0 || got[1].Offset != 1 || got[2].Offset != 3 || string(got[2].Value) != "3" {
		t.Fatalf("records %v, want offsets 0, 1, 3", offsetsOf(got))
	}
	if s.next != 4 {
		t.Fatalf("next offset %d, want 4", s.next)
	}

	// Records, then a marker at the end of the partition.
	if err := f.take(s, "in", response(7, dataBatch(4, 5), marker(6)), &mem); err != nil {
		t.Fatal(err)
	}
	got = <-s.queue
	if len(got) != 2 || s.next != 7 {
		t.Fatalf("records %v, next %d; want offsets 4, 5 and next 7", offsetsOf(got), s.next)
	}
	if behindLast(got) {
		t.Fatalf("the last record before the final marker reads as behind (high watermark %d)", got[1].HighWaterMark)
	}

	// A marker alone.
	if err := f.take(s, "in", response(8, marker(7)), &mem); err != nil {
		t.Fatal(err)
	}
	if len(s.queue) != 0 || s.next != 8 {
		t.Fatalf("a marker alone: %d batches queued, next %d; want none and 8", len(s.queue), s.next)
	}

	// A record with more in the partition still reads as behind.
	if err := f.take(s, "in", response(20, dataBatch(8)), &mem); err != nil {
		t.Fatal(err)
	}
	if got = <-s.queue; !behindLast(got) {
		t.Fatal("a record 12 below the high watermark reads as caught up")
	}
}

func offsetsOf(msgs []kafka.Message) []int64 {
	var o []int64
	for _, m := range msgs {
		o = append(o, m.Offset)
	}
	return o
}

// behindLast reports whether the last of msgs had records after it in its
// partition when it was fetched.
func behindLast(msgs []kafka.Message) bool {
	m := &msgs[len(msgs)-1]
	return m.HighWaterMark > m.Offset+1
}
