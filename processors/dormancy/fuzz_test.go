package dormancy_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/dormancy"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded into,
// fired and asked for its context. The seed corpus is in
// testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	p, err := dormancy.New(dormancy.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	ev := &journey.Event{ID: "fz", Kind: journey.KindPage, Name: "Home", CustomerID: "c1", Time: at}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st dormancy.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again dormancy.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		p.Context(&st)
		var out journey.Output
		if _, err := p.OnTimer(&st, "c1", dormancy.TimerKey, at, &out); err != nil {
			t.Fatalf("OnTimer on a decoded state: %v", err)
		}
		if _, err := p.Fold(&st, ev, &out); err != nil {
			t.Fatalf("Fold on a decoded state: %v", err)
		}
		if _, err := st.MarshalBinary(); err != nil {
			t.Fatalf("a folded decoded state does not encode: %v", err)
		}
	})
}
