package state

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Store-wide entries live under a prefix no partition can have: partition
// numbers are Kafka's int32 partition ids, never 0xffffffff.
var storeMetaPrefix = []byte{0xff, 0xff, 0xff, 0xff, 'M'}

func storeMetaKey(name string) []byte {
	return appendString(append([]byte(nil), storeMetaPrefix...), name)
}

// PutMeta records a store-wide value (e.g. a replay's manifest), durably.
func (s *Store) PutMeta(name string, value []byte) error {
	if err := s.write(func() error { return s.db.Set(storeMetaKey(name), value, pebble.Sync) }); err != nil {
		return fmt.Errorf("state: put %s: %w", name, err)
	}
	return nil
}

// Meta returns a store-wide value recorded by PutMeta, or found=false.
// The bytes are a copy the caller owns.
func (s *Store) Meta(name string) (value []byte, found bool, err error) {
	v, closer, err := s.db.Get(storeMetaKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: get %s: %w", name, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}

// Flush writes everything committed so far to durable sstables (a replay
// commits without fsync and flushes once at the end).
func (s *Store) Flush() error { return s.write(s.db.Flush) }
