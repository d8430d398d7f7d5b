package state

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// DiskFull is a Pebble file system that, once Fill is called, fails every
// write, sync and create with ENOSPC, as a full disk does.
type diskFull struct{ on atomic.Bool }

func (d *diskFull) MaybeError(op errorfs.Op) error {
	if !d.on.Load() {
		return nil
	}
	// Only the write-ahead log's syncs: a synced commit meets the full
	// disk there, and gets the error itself. A background flush or compaction meeting it (a file
	// create, an sstable write) makes Pebble panic on its own goroutine,
	// which no caller can recover: the process exits, and restarts once
	// space is back (README, Running in production).
	if !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

func (d *diskFull) String() string { return "disk full" }

// TestDiskFull: with the disk full, a commit fails with the store's one
// error (no panic, no exit), later writes fail at once, Close returns, and
// the reopened store holds every batch committed before the failure.
func TestDiskFull(t *testing.T) {
	// Synced, the commit that meets the full disk gets the error itself.
	// Unsynced, the log's error shows at a later commit or in a background
	// rotation, which Pebble makes a fatal error of its own (README).
	for _, sync := range []bool{true} {
		t.Run(map[bool]string{false: "nosync", true: "sync"}[sync], func(t *testing.T) {
			dir := t.TempDir()
			full := &diskFull{}
			s, err := Open(dir, Options{Sync: sync, FS: errorfs.Wrap(vfs.Default, full)})
			if err != nil {
				t.Fatal(err)
			}
			p := part(t, s, 3)
			for i := range 10 {
				b := p.NewBatch()
				b.PutState("c", "counter", 1, []byte{byte(i)})
				b.SetOffset("events", int64(i+1))
				if err := b.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			full.on.Store(true)
			var failed error
			// Unsynced, the log's error shows at its next 32 KiB block.
			for i := 10; i < 200 && failed == nil; i++ {
				b := p.NewBatch()
				b.PutState("c", "counter", 1, []byte{byte(i)})
				b.PutState("c", "pad", 1, make([]byte, 4096))
				b.SetOffset("events", int64(i+1))
				failed = b.Commit()
			}
			if !errors.Is(failed, ErrWriteFailed) || !errors.Is(failed, syscall.ENOSPC) ||
				!strings.HasPrefix(failed.Error(), "state: write failed: no space left on device (state.dir "+dir+")") {
				t.Fatalf("commit on a full disk: %v", failed)
			}
			select {
			case <-s.Failed():
			default:
				t.Fatal("Failed not closed")
			}
			b := p.NewBatch()
			b.SetOffset("events", 1000)
			if err := b.Commit(); !errors.Is(err, ErrWriteFailed) {
				t.Fatalf("commit after the failure: %v", err)
			}
			if err := s.Close(); !errors.Is(err, ErrWriteFailed) {
				t.Fatalf("Close: %v", err)
			}

			// What a new process finds on disk (this one's Pebble may
			// still hold the directory's lock: its commit pipeline is
			// wedged after the log write failed).
			dir2 := t.TempDir()
			if err := os.CopyFS(dir2, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir2, Options{Sync: sync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p = part(t, s, 3)
			offs, err := p.Offsets()
			if err != nil {
				t.Fatal(err)
			}
			st, err := p.States("c")
			if err != nil {
				t.Fatal(err)
			}
			// A prefix of the batches (unsynced, maybe none), each whole:
			// the state is the one its offset says, and every batch
			// before the failure is there when synced.
			n := offs["events"]
			consistent := n == 0 && len(st) == 0 || len(st["counter"].Data) == 1 && int64(st["counter"].Data[0]) == n-1
			if !consistent || sync && n < 10 {
				t.Fatalf("reopened: offset %d, state %v", n, st["counter"].Data)
			}
			b = p.NewBatch()
			b.SetOffset("events", n+1)
			if err := b.Commit(); err != nil {
				t.Fatalf("commit after the restart: %v", err)
			}
		})
	}
}
