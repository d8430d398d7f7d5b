package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/state"
)

// The forgotten set keeps each id's hash for privacy.forget_retention by
// the wall clock: a round drops the expired ones (counted) and writes the
// set; the others stay, with their times. A set of version 1 (hashes
// alone) is read as forgotten at load.
func TestForgottenSetRetention(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sp, err := store.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{cfg: Config{Privacy: PrivacyConfig{Secret: []byte("secret"), ForgetRetention: 48 * time.Hour}}}
	w := &worker{p: p, sp: sp}
	put := func(version uint32, data []byte) {
		b := sp.NewBatch()
		b.PutState(forgottenCustomer, forgottenProcessor, version, data)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	old, recent := p.forgetSum("u-old"), p.forgetSum("u-recent")
	now := time.Now()

	// Version 1: both are forgotten as of now, and stay.
	put(forgottenVersionV1, append(old[:], recent[:]...))
	rd := &tx{w: w, b: sp.NewBatch()}
	for _, id := range []string{"u-old", "u-recent"} {
		if gone, err := w.isForgotten(id); err != nil || !gone {
			t.Fatalf("version 1: %s forgotten %v (%v)", id, gone, err)
		}
	}
	if err := w.pruneForgotten(rd); err != nil || rd.ids.forgetsExpired != 0 {
		t.Fatalf("version 1: pruned %d (%v), want 0", rd.ids.forgetsExpired, err)
	}

	// Version 2: one forgotten three days ago, one an hour ago.
	v2 := func(entries map[[sha256.Size]byte]time.Time) []byte {
		var data []byte
		for _, s := range [][sha256.Size]byte{old, recent} { // sorted order is not needed to read
			if at, ok := entries[s]; ok {
				data = append(data, s[:]...)
				data = binary.BigEndian.AppendUint64(data, uint64(at.Unix()))
			}
		}
		return data
	}
	put(forgottenVersion, v2(map[[sha256.Size]byte]time.Time{old: now.Add(-72 * time.Hour), recent: now.Add(-time.Hour)}))
	w.forgot.unload()
	rd = &tx{w: w, b: sp.NewBatch()}
	if err := w.pruneForgotten(rd); err != nil || rd.ids.forgetsExpired != 1 {
		t.Fatalf("pruned %d (%v), want 1", rd.ids.forgetsExpired, err)
	}
	if err := w.pruneForgotten(rd); err != nil || rd.ids.forgetsExpired != 1 {
		t.Fatalf("a second prune in the round: %d (%v)", rd.ids.forgetsExpired, err)
	}
	if err := rd.b.Commit(); err != nil {
		t.Fatal(err)
	}
	w.forgot.unload()
	for id, want := range map[string]bool{"u-old": false, "u-recent": true} {
		if gone, err := w.isForgotten(id); err != nil || gone != want {
			t.Errorf("after the prune, read back: %s forgotten %v (%v), want %v", id, gone, err, want)
		}
	}
	if at := w.forgot.set[recent]; at != now.Add(-time.Hour).Unix() {
		t.Errorf("the kept id's time %d, want %d", at, now.Add(-time.Hour).Unix())
	}

	// Retention 0 (kept for good): nothing is pruned.
	put(forgottenVersion, v2(map[[sha256.Size]byte]time.Time{old: now.Add(-1000 * time.Hour)}))
	w.forgot.unload()
	p.cfg.Privacy.ForgetRetention = 0
	rd = &tx{w: w, b: sp.NewBatch()}
	if err := w.pruneForgotten(rd); err != nil || rd.ids.forgetsExpired != 0 {
		t.Fatalf("retention 0: pruned %d (%v)", rd.ids.forgetsExpired, err)
	}
}
