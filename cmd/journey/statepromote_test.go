package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/replay"
	"github.com/journey-dev/journey/pkg/state"
)

// promoteFixture makes a live and a replayed state directory side by side.
func promoteFixture(t *testing.T, manifest *replay.Manifest, outbox int) (live, replayed string) {
	t.Helper()
	states, timers := foldCustomers(t, fixtureEvents()...)
	root := t.TempDir()
	live, replayed = filepath.Join(root, "live"), filepath.Join(root, "replay")
	writeStore(t, live, storeSpec{partition: 0, states: states, timers: timers, offsets: map[string]int64{"journey.events": 42}})
	writeStore(t, replayed, storeSpec{partition: 0, states: states, offsets: map[string]int64{"journey.events": 50}, outbox: outbox})
	writeStore(t, replayed, storeSpec{partition: 2, offsets: map[string]int64{"journey.events": 7}})
	if manifest != nil {
		s, err := state.Open(replayed, state.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := manifest.Save(s); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return live, replayed
}

func finishedManifest() *replay.Manifest {
	return &replay.Manifest{Topics: []string{"journey.events"}, From: "earliest", Started: stateT0, Completed: stateT0.Add(time.Hour), Runs: 1}
}

// offsetOf reads partition 0's offset of journey.events in dir.
func offsetOf(t *testing.T, dir string) int64 {
	t.Helper()
	s, err := state.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum, err := s.Summary(0)
	if err != nil {
		t.Fatal(err)
	}
	return sum.Offsets["journey.events"]
}

func TestStatePromoteRefuses(t *testing.T) {
	unfinished := finishedManifest()
	unfinished.Completed = time.Time{}
	for _, tc := range []struct {
		name     string
		manifest *replay.Manifest
		outbox   int
		hold     string // "live" or "replayed": a store the test holds open
		want     string
	}{
		{name: "no manifest", want: "no replay manifest: journey replay did not write this directory"},
		{name: "unfinished", manifest: unfinished, want: "the replay has not finished"},
		{name: "live in use", manifest: finishedManifest(), hold: "live", want: "--to: state dir %s is in use by another process"},
		{name: "replayed in use", manifest: finishedManifest(), hold: "replayed", want: "--from: state dir %s is in use by another process"},
		{name: "shadow triggers left", manifest: finishedManifest(), outbox: 3, want: "3 undelivered outbox entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, replayed := promoteFixture(t, tc.manifest, tc.outbox)
			want := tc.want
			if tc.hold != "" {
				dir := map[string]string{"live": live, "replayed": replayed}[tc.hold]
				s, err := state.Open(dir, state.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				want = fmt.Sprintf(want, dir)
			}
			code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
			if code != 1 || !strings.Contains(stderr, want) {
				t.Fatalf("exit %d, stderr %q, want %q; stdout %q", code, stderr, want, out)
			}
			// Nothing moved.
			entries, _ := os.ReadDir(filepath.Dir(live))
			if len(entries) != 2 {
				t.Fatalf("the directory holds %v", entries)
			}
			if tc.hold == "" && (offsetOf(t, live) != 42 || offsetOf(t, replayed) != 50) {
				t.Fatal("a directory changed")
			}
		})
	}
}

func TestStatePromote(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := offsetOf(t, live); got != 50 {
		t.Fatalf("the live dir resumes from %d, want the replay's 50", got)
	}
	if _, err := os.Stat(replayed); !os.IsNotExist(err) {
		t.Fatalf("the replayed dir is still there: %v", err)
	}
	backups, _ := filepath.Glob(live + ".previous-*")
	if len(backups) != 1 || offsetOf(t, backups[0]) != 42 {
		t.Fatalf("backups %v", backups)
	}
	for _, want := range []string{
		"promoted " + replayed + " -> " + live,
		"the previous live state is kept in " + backups[0],
		"journey.events  0          50",
		"journey.events  2          7",
		"journey run with state.dir " + live + " resumes from these offsets",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestStatePromoteWithoutLiveDir(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	if err := os.RemoveAll(live); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
	if code != 0 || strings.Contains(out, "previous live state") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if got := offsetOf(t, live); got != 50 {
		t.Fatalf("the live dir resumes from %d, want 50", got)
	}
}

func TestStatePromoteAcrossFilesystems(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("no /proc: no second filesystem at hand")
	}
	err := checkSameFilesystem(t.TempDir(), "/proc/journey-live", false)
	if err == nil || !strings.Contains(err.Error(), "different filesystems") {
		t.Fatalf("err = %v", err)
	}
	if err := checkSameFilesystem(t.TempDir(), filepath.Join(t.TempDir(), "live"), false); err != nil {
		t.Fatalf("same filesystem: %v", err)
	}
}

func TestStatePromoteRefusesSymlink(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	link := filepath.Join(filepath.Dir(live), "current")
	if err := os.Symlink(live, link); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", link)
	if code != 1 || !strings.Contains(stderr, "--to "+link+" is a symbolic link") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// Undelivered triggers of the live state do not stop a promotion, but
// are reported: they stay in the backup.
func TestStatePromoteWarnsOfLiveOutbox(t *testing.T) {
	live, replayed := promoteFixture(t, finishedManifest(), 0)
	writeStore(t, live, storeSpec{partition: 5, outbox: 2})
	code, out, stderr := runStateCmd(t, "promote", "--from", replayed, "--to", live)
	if code != 0 || !strings.Contains(out, "WARNING: the previous live state held 2 undelivered outbox entries") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
