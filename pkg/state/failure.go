package state

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/zap"
)

// ErrWriteFailed reports that the store could not write: the disk is full,
// or Pebble met another write or sync error. Pebble treats such an error as
// fatal (it does not undo half-applied state), so once it is seen the
// store takes no more writes; the process is to stop, and a new start
// recovers from what is on disk (every batch there whole, with its
// offsets).
var ErrWriteFailed = errors.New("state: write failed")

// WriteError is the store's first write failure, naming state.dir.
type WriteError struct {
	Dir string
	Err error // Pebble's error
}

func (e *WriteError) Error() string {
	if errors.Is(e.Err, syscall.ENOSPC) {
		return fmt.Sprintf("%v: no space left on device (state.dir %s)", ErrWriteFailed, e.Dir)
	}
	return fmt.Sprintf("%v (state.dir %s): %v", ErrWriteFailed, e.Dir, e.Err)
}

func (e *WriteError) Unwrap() []error { return []error{ErrWriteFailed, e.Err} }

// failure records a store's first write failure.
type failure struct {
	once sync.Once
	done chan struct{}
	err  error // set before done is closed
}

// fail records err as the store's write failure, unless one is recorded.
func (s *Store) fail(err error) {
	s.failure.once.Do(func() {
		s.failure.err = &WriteError{Dir: s.dir, Err: err}
		s.opts.Logger.Error("state store write failed: taking no more writes", zap.String("dir", s.dir), zap.Error(err))
		close(s.failure.done)
	})
}

// Failed is closed once the store met a write failure (Err says which);
// it takes no more writes.
func (s *Store) Failed() <-chan struct{} { return s.failure.done }

// Err is the store's write failure (a *WriteError, matching
// ErrWriteFailed), or nil.
func (s *Store) Err() error {
	select {
	case <-s.failure.done:
		return s.failure.err
	default:
		return nil
	}
}

// write runs fn, one write to Pebble, unless the store has failed: an error
// from it, or a panic with an error (Pebble panics when its log cannot be
// written), fails the store. It also fails when Pebble reported a fatal
// error meanwhile (pebbleLogger.Fatalf), even if fn returned none: Pebble
// then returns from a commit whose log write failed as if it succeeded.
func (s *Store) write(fn func() error) (err error) {
	if err := s.Err(); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			perr, ok := r.(error)
			if !ok {
				panic(r)
			}
			err = perr
		}
		if err != nil && !s.opts.ReadOnly { // read-only, a write is refused: no failure
			s.fail(err)
		}
		if ferr := s.Err(); ferr != nil {
			err = ferr
		}
	}()
	return fn()
}

// commit commits b through write.
func (s *Store) commit(b *pebble.Batch, opts *pebble.WriteOptions) error {
	return s.write(func() error { return b.Commit(opts) })
}

// diskError reports whether a background error (a flush or compaction
// that Pebble retries) means the disk cannot take writes: retrying would
// stall every commit once the memtables are full.
func diskError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// guardFS is the file system under Pebble: once the store is open, a write,
// sync or create that fails fails the store before Pebble sees the error,
// so no commit enters Pebble afterwards (Store.write). Pebble treats such an
// error as fatal and, in a commit that meets it, panics — a panic in a
// commit's log write is recovered (Store.write), but one while rotating the
// log is a runtime fatal error: closing the gate first leaves that to a
// commit already in flight when the disk filled.
type guardFS struct {
	vfs.FS
	s *Store
}

func (g guardFS) check(err error) error {
	if err != nil && g.s.open.Load() {
		g.s.fail(err)
	}
	return err
}

func (g guardFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, g.check(err)
	}
	return guardFile{File: f, g: g}, nil
}

func (g guardFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return g.wrap(g.FS.Create(name, category))
}

func (g guardFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return g.wrap(g.FS.OpenReadWrite(name, category, opts...))
}

func (g guardFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	return g.wrap(g.FS.ReuseForWrite(oldname, newname, category))
}

type guardFile struct {
	vfs.File
	g guardFS
}

func (f guardFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, f.g.check(err)
}

func (f guardFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, f.g.check(err)
}

func (f guardFile) Sync() error     { return f.g.check(f.File.Sync()) }
func (f guardFile) SyncData() error { return f.g.check(f.File.SyncData()) }
func (f guardFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	return full, f.g.check(err)
}
