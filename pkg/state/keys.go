package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Key layout. Every key starts with the partition number (4 bytes,
// big-endian), so one partition's key space is one contiguous range that can
// be scanned, dropped or handed over on its own. A one-byte tag follows.
// Variable-length parts (topics, customer ids, processor names, event ids)
// are length-prefixed with a uvarint, so no customer id can make one key
// look like another or like a prefix of another customer's keys.
const (
	tagOffset    byte = 'o' // P o <topic>                 -> next offset (8 bytes BE)
	tagProcessor byte = 'v' // P v <processor>             -> state version (uvarint)
	tagState     byte = 's' // P s <customer> <processor>  -> uvarint version | state bytes
	tagDedup     byte = 'd' // P d <bucket 8 BE> <event id> -> empty
	tagDedupPack byte = 'D' // P D <bucket 8 BE> <pack 8 BE> -> the ids one round marked in the bucket (see Batch.MarkSeen)
	tagOutbox    byte = 'q' // P q <seq 8 BE>              -> outbox entry
	tagMeta      byte = 'm' // P m <name>                  -> meta value
	tagTimer     byte = 't' // P t <at 8 BE> <customer> <processor> <key> -> empty (index by fire time)
	tagTimerRev  byte = 'T' // P T <customer> <processor> <key>            -> at (8 BE): to move or cancel
)

var errBadKey = errors.New("state: malformed key")

func partitionPrefix(p uint32) []byte {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), p)
}

// keyspace returns the smallest key of partition p's tag and the smallest
// key after it, for range scans and deletes.
func keyspace(p uint32, tag byte) (lo, hi []byte) {
	lo = append(partitionPrefix(p), tag)
	hi = append(partitionPrefix(p), tag+1)
	return lo, hi
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, errBadKey
	}
	b = b[w:]
	return string(b[:n]), b[n:], nil
}

func offsetKey(p uint32, topic string) []byte {
	return appendString(append(partitionPrefix(p), tagOffset), topic)
}

func processorKey(p uint32, processor string) []byte {
	return appendString(append(partitionPrefix(p), tagProcessor), processor)
}

// stateKeyPrefix is the prefix all of a customer's state keys share.
func stateKeyPrefix(p uint32, customer string) []byte {
	return appendString(append(partitionPrefix(p), tagState), customer)
}

func stateKey(p uint32, customer, processor string) []byte {
	return appendString(stateKeyPrefix(p, customer), processor)
}

// decodeStateKey is the inverse of stateKey.
func decodeStateKey(k []byte) (p uint32, customer, processor string, err error) {
	if len(k) < 5 || k[4] != tagState {
		return 0, "", "", errBadKey
	}
	p = binary.BigEndian.Uint32(k)
	customer, rest, err := readString(k[5:])
	if err != nil {
		return 0, "", "", err
	}
	processor, rest, err = readString(rest)
	if err != nil {
		return 0, "", "", err
	}
	if len(rest) != 0 {
		return 0, "", "", fmt.Errorf("%w: %d trailing bytes", errBadKey, len(rest))
	}
	return p, customer, processor, nil
}

func dedupBucketPrefix(p uint32, bucket uint64) []byte {
	return binary.BigEndian.AppendUint64(append(partitionPrefix(p), tagDedup), bucket)
}

// dedupPackKey is the key of the pack numbered seq of bucket's ids.
func dedupPackKey(p uint32, bucket, seq uint64) []byte {
	k := append(binary.BigEndian.AppendUint32(make([]byte, 0, 21), p), tagDedupPack)
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(k, bucket), seq)
}

func dedupPackBucketPrefix(p uint32, bucket uint64) []byte {
	return binary.BigEndian.AppendUint64(append(partitionPrefix(p), tagDedupPack), bucket)
}

func dedupKey(p uint32, bucket uint64, eventID string) []byte {
	return appendDedupKey(make([]byte, 0, dedupKeyLen(eventID)), p, bucket, eventID)
}

// appendDedupKey appends dedupKey(p, bucket, eventID), dedupKeyLen bytes.
func appendDedupKey(dst []byte, p uint32, bucket uint64, eventID string) []byte {
	dst = append(binary.BigEndian.AppendUint32(dst, p), tagDedup)
	return appendString(binary.BigEndian.AppendUint64(dst, bucket), eventID)
}

func dedupKeyLen(eventID string) int { return 13 + uvarintLen(uint64(len(eventID))) + len(eventID) }

func outboxKey(p uint32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(partitionPrefix(p), tagOutbox), seq)
}

func outboxSeq(k []byte) (uint64, error) {
	if len(k) != 13 || k[4] != tagOutbox {
		return 0, errBadKey
	}
	return binary.BigEndian.Uint64(k[5:]), nil
}

func metaKey(p uint32, name string) []byte {
	return append(append(partitionPrefix(p), tagMeta), name...)
}

// timeKey encodes a time as unix nanoseconds, big-endian, so keys sort by
// time; times before 1970 sort as 1970.
func timeKey(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func timerKey(p uint32, at uint64, customer, processor, key string) []byte {
	k := binary.BigEndian.AppendUint64(append(partitionPrefix(p), tagTimer), at)
	k = appendString(k, customer)
	k = appendString(k, processor)
	return appendString(k, key)
}

func timerRevKey(p uint32, customer, processor, key string) []byte {
	k := appendString(append(partitionPrefix(p), tagTimerRev), customer)
	k = appendString(k, processor)
	return appendString(k, key)
}

// decodeTimerKey is the inverse of timerKey.
func decodeTimerKey(k []byte) (at uint64, customer, processor, key string, err error) {
	if len(k) < 13 || k[4] != tagTimer {
		return 0, "", "", "", errBadKey
	}
	at = binary.BigEndian.Uint64(k[5:13])
	rest := k[13:]
	if customer, rest, err = readString(rest); err != nil {
		return
	}
	if processor, rest, err = readString(rest); err != nil {
		return
	}
	if key, rest, err = readString(rest); err != nil {
		return
	}
	if len(rest) != 0 {
		err = errBadKey
	}
	return
}

// StateKeyOrder returns the indexes of processors (by name) in the order
// of their state keys for one customer. A batch that writes a customer's
// states in this order inserts them into Pebble's memtable in ascending
// key order, where each insert starts from the previous one's place in
// the skiplist instead of from its top (in a large memtable, a cache miss
// per level).
func StateKeyOrder(processors []string) []int {
	order := make([]int, len(processors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return bytes.Compare(appendString(nil, processors[order[a]]), appendString(nil, processors[order[b]])) < 0
	})
	return order
}
