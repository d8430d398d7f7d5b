package pipeline_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/state"
)

// diskFull fails every write, sync and create with ENOSPC while on.
type diskFull struct{ on atomic.Bool }

func (d *diskFull) String() string { return "disk full" }
func (d *diskFull) MaybeError(op errorfs.Op) error {
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
		if d.on.Load() {
			return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
		}
	}
	return nil
}

// TestDiskFull: the disk fills under a running pipeline: Run returns the
// store's one error (no panic, no exit); started again on what is on disk,
// with space, it folds every event once and emits every trigger once.
func TestDiskFull(t *testing.T) {
	h := newHarness(t, 1, "")
	full := &diskFull{}
	// Synced, a commit's log write reaches the file at once (unsynced,
	// it waits in Pebble's 32 KiB log block).
	h.fs, h.sync = errorfs.Wrap(vfs.Default, full), true
	t0 := time.Now().Add(-time.Hour)
	h.produce(events(5, 4, "a", t0)...)
	r := h.start(3, "", nil)
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if n := r.counter(t, "journey_events_folded_total", nil); n != 20 {
			return fmt.Errorf("%v of 20 folded", n)
		}
		return nil
	})
	full.on.Store(true)
	h.produce(events(5, 4, "b", t0.Add(time.Minute))...)
	select {
	case err := <-r.done:
		if !errors.Is(err, state.ErrWriteFailed) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Run on a full disk: %v", err)
		}
		t.Logf("Run: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("Run did not stop on a full disk")
	}
	r.ended = true
	_ = r.store.Close()

	// A new process finds the directory as it is (this one's Pebble may
	// still hold its lock).
	dir2 := t.TempDir()
	if err := os.CopyFS(dir2, os.DirFS(h.dir)); err != nil {
		t.Fatal(err)
	}
	h.fs, h.dir = nil, dir2
	r = h.start(3, "", nil)
	h.waitTriggers("email", 10, time.Minute)
	testrig.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		st, err := r.store.Partition(0)
		if err != nil {
			return err
		}
		if offs, err := st.Offsets(); err != nil || offs[h.topic] != 40 {
			return fmt.Errorf("offset %v (%v), want 40", offs[h.topic], err)
		}
		return nil
	})
	r.stop(t)
	checkTotals(t, dir2, 1, 5, 8)
	if got, err := h.stream("email"); err != nil || len(got) != 10 {
		t.Fatalf("%d triggers (%v), want 10 (every third of 8 events, 5 customers)", len(got), err)
	}
}
