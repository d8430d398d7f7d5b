package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/journey-dev/journey/pkg/replay"
	"github.com/journey-dev/journey/pkg/state"
)

// statePromoteHelp is journey state promote -h's text above the flags.
var statePromoteHelp = help{
	name:    "state promote",
	args:    "--from <replayed dir> --to <live dir>",
	summary: "make a finished replay's state directory the live one",
	text: `Makes a finished replay's state directory the live one: renames the live
directory to <live dir>.previous-<UTC time> (kept as a backup), renames
the replayed directory to the live one's name, and prints the input offsets
'journey run' resumes from. Without a live directory, just renames.

It refuses, changing nothing, when:
  - either directory is in use (a running journey run or journey replay);
  - --from was not written by journey replay (no replay manifest), or the
    replay has not finished (run the same journey replay command again);
  - --from still holds undelivered shadow triggers: journey run would send
    them under the live Redis prefix;
  - the two directories are on different filesystems, or either is a mount
    point: a rename would not be atomic;
  - either is a symbolic link (the link would move, not the state).
It warns when the live state still holds undelivered triggers: they stay
in the backup and are not delivered.

Safe procedure:
  1. Replay into a new directory on the same filesystem as the live one:
       journey replay --config journey.yaml --from earliest --state-dir /data/journey-replay
     and run the same command again until it reports it has finished.
  2. Stop every journey run using the live directory (SIGTERM: it commits,
     flushes its outbox for up to outbox.shutdown_flush, and exits; Redis
     must be up for the flush). Nothing is lost while it is stopped: Kafka
     keeps the events.
  3. Compare, and check the differences are the ones you expect:
       journey state diff --config journey.yaml /data/journey-data /data/journey-replay
  4. Promote:
       journey state promote --from /data/journey-replay --to /data/journey-data
  5. Start journey run again on the live directory, with the processor
     configuration the replay used. It resumes from the offsets printed here
     (the state's own, not the consumer group's), so it re-reads what the
     old live state had read past the replay's end.
     Triggers re-emitted for those records carry the ids they had (ids are
     derived from rule, customer and cause) where the rules did not change,
     and Redis drops those already delivered (within redis.dedup_ttl).
  6. Delete the backup once the new state is verified. To roll back: stop
     journey run, move the live directory away and rename the backup to the
     live directory's name.`,
}

func statePromote(args []string, stdout, stderr io.Writer) error {
	fs := newFlags(statePromoteHelp, stdout, stderr)
	from := fs.String("from", "", "the replayed state directory (required)")
	to := fs.String("to", "", "the live state directory, state.dir of journey run (required)")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fs.usageError("unexpected arguments %q", pos)
	case *from == "" || *to == "":
		return fs.usageError("--from and --to are required")
	}
	p, err := planPromotion(filepath.Clean(*from), filepath.Clean(*to), time.Now())
	if err != nil {
		return err
	}
	return p.run(stdout)
}

// promotion is a checked plan to rename from to to, to to backup first.
type promotion struct {
	from, to, backup string
	liveExists       bool
	liveOutbox       int // undelivered outbox entries left in the live state
	manifest         replay.Manifest
	partitions       []state.PartitionSummary // of from
}

// planPromotion checks everything that can be checked before renaming.
func planPromotion(from, to string, now time.Time) (*promotion, error) {
	p := &promotion{from: from, to: to, backup: to + ".previous-" + now.UTC().Format("20060102T150405Z")}
	if sameDir(from, to) {
		return nil, fmt.Errorf("--from and --to are the same directory %s", from)
	}
	fi, err := os.Lstat(from)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	if err := checkIsDir("--from", from, fi); err != nil {
		return nil, err
	}
	switch fi, err := os.Lstat(to); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("--to: %w", err)
	default:
		if err := checkIsDir("--to", to, fi); err != nil {
			return nil, err
		}
		p.liveExists = true
	}
	if _, err := os.Lstat(p.backup); err == nil {
		return nil, fmt.Errorf("the backup name %s is taken; try again in a second", p.backup)
	}
	if err := checkSameFilesystem(from, to, p.liveExists); err != nil {
		return nil, err
	}
	if p.liveExists {
		if err := p.readLive(); err != nil {
			return nil, err
		}
	}
	if err := p.readReplayed(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkIsDir checks that fi, the Lstat of a flag's path, is a directory:
// renaming a symbolic link would move the link, not the state.
func checkIsDir(flagName, path string, fi os.FileInfo) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s %s is a symbolic link: pass the directory it points to (and repoint the link yourself)", flagName, path)
	case !fi.IsDir():
		return fmt.Errorf("%s %s: not a directory", flagName, path)
	}
	return nil
}

// readLive checks the live directory is a state directory nothing uses,
// and counts its undelivered outbox entries.
func (p *promotion) readLive() error {
	s, err := openState("--to: ", p.to)
	if errors.Is(err, state.ErrNoStore) {
		return fmt.Errorf("--to %s exists but holds no state store: move it away first", p.to)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	sums, err := summaries(s)
	if err != nil {
		return fmt.Errorf("--to %s: %w", p.to, err)
	}
	for _, sum := range sums {
		p.liveOutbox += sum.Outbox
	}
	return nil
}

// readReplayed checks the replayed directory holds a finished replay with
// nothing left to deliver, and reads where its partitions resume.
func (p *promotion) readReplayed() error {
	s, err := openState("--from: ", p.from)
	if err != nil {
		return err
	}
	defer s.Close()
	m, found, err := replay.LoadManifest(s)
	switch {
	case err != nil:
		return fmt.Errorf("--from %s: %w", p.from, err)
	case !found:
		return fmt.Errorf("--from %s: no replay manifest: journey replay did not write this directory", p.from)
	case !m.Done():
		return fmt.Errorf("--from %s: the replay has not finished (started %s, runs so far: %d): run the same journey replay command again to finish it",
			p.from, m.Started.Format(time.RFC3339), m.Runs)
	}
	p.manifest = m
	if p.partitions, err = summaries(s); err != nil {
		return fmt.Errorf("--from %s: %w", p.from, err)
	}
	pending := 0
	for _, sum := range p.partitions {
		pending += sum.Outbox
	}
	if pending > 0 {
		return fmt.Errorf("--from %s: %d undelivered outbox entries (shadow triggers and contexts of the replay): journey run would deliver them under the live prefix",
			p.from, pending)
	}
	return nil
}

func summaries(s *state.Store) ([]state.PartitionSummary, error) {
	ids, err := s.PartitionIDs()
	if err != nil {
		return nil, err
	}
	out := make([]state.PartitionSummary, 0, len(ids))
	for _, id := range ids {
		sum, err := s.Summary(id)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// checkSameFilesystem checks that renaming from to to (and to to its
// backup, next to it) stays within one filesystem: rename(2) is atomic
// only there, and a mount point cannot be renamed.
func checkSameFilesystem(from, to string, liveExists bool) error {
	paths := []string{from, filepath.Dir(from), filepath.Dir(to)}
	if liveExists {
		paths = append(paths, to)
	}
	devs := make([]uint64, len(paths))
	for i, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: cannot tell its filesystem on this platform", path)
		}
		devs[i] = uint64(st.Dev)
	}
	for i, d := range devs[1:] {
		if d != devs[0] {
			return fmt.Errorf("--from %s and %s are on different filesystems (or one is a mount point): a rename would not be atomic; replay into a directory next to the live one",
				from, paths[i+1])
		}
	}
	return nil
}

// run locks both directories, renames them and prints where the new live
// state resumes.
func (p *promotion) run(stdout io.Writer) error {
	// Hold both locks across the renames, so that no journey opens either
	// directory half way. A lock stays with its directory when renamed.
	if p.liveExists {
		unlock, err := lockState("--to: ", p.to)
		if err != nil {
			return err
		}
		defer unlock()
	}
	unlock, err := lockState("--from: ", p.from)
	if err != nil {
		return err
	}
	defer unlock()

	if p.liveExists {
		if err := os.Rename(p.to, p.backup); err != nil {
			return fmt.Errorf("nothing changed: %w", err)
		}
	}
	if err := os.Rename(p.from, p.to); err != nil {
		if p.liveExists {
			if rerr := os.Rename(p.backup, p.to); rerr != nil {
				return fmt.Errorf("%w; and putting the live state back failed too: %v: it is in %s", err, rerr, p.backup)
			}
		}
		return fmt.Errorf("nothing changed: %w", err)
	}
	p.report(stdout)
	// Make the renames durable: they are entries of the parent directories.
	if err := errors.Join(syncDir(filepath.Dir(p.to)), syncDir(filepath.Dir(p.from))); err != nil {
		return fmt.Errorf("promoted, but the renames may not survive a machine crash: %w", err)
	}
	return nil
}

func lockState(flagName, dir string) (func(), error) {
	l, err := state.LockDir(dir)
	switch {
	case errors.Is(err, state.ErrInUse):
		return nil, fmt.Errorf("%sstate dir %s is in use by another process (a running journey?)", flagName, dir)
	case err != nil:
		return nil, fmt.Errorf("%s%w", flagName, err)
	}
	return func() { _ = l.Close() }, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func (p *promotion) report(w io.Writer) {
	fmt.Fprintf(w, "promoted %s -> %s (replay from %s, finished %s)\n",
		p.from, p.to, p.manifest.From, p.manifest.Completed.Format(time.RFC3339))
	if p.liveExists {
		fmt.Fprintf(w, "the previous live state is kept in %s: delete it once the new state is verified\n", p.backup)
		if p.liveOutbox > 0 {
			fmt.Fprintf(w, "WARNING: the previous live state held %d undelivered outbox entries (triggers, context updates); they stay in the backup and will not be delivered\n",
				p.liveOutbox)
		}
	}
	fmt.Fprintln(w, "\nthe new live state resumes from (next offset to read):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  topic\tpartition\toffset")
	n := 0
	for _, sum := range p.partitions {
		for _, topic := range slices.Sorted(maps.Keys(sum.Offsets)) {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", topic, sum.ID, sum.Offsets[topic])
			n++
		}
	}
	_ = tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "  (no offsets: the replay read nothing; journey run starts at kafka.start_offset)")
	}
	fmt.Fprintf(w, "\njourney run with state.dir %s resumes from these offsets (the state's own, not the consumer group's).\n", p.to)
}
