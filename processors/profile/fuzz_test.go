package profile_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/profile"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded into.
// The seed corpus is in testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	p, err := profile.New(profile.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	ev := &journey.Event{
		ID: "fz", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "c1", UserID: "c1", AnonymousID: "a1",
		Channel: "web", TimeZone: "Europe/Paris", Consent: map[string]bool{"email": true},
		Time: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st profile.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again profile.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		if _, err := p.Fold(&st, ev, &journey.Output{}); err != nil {
			t.Fatalf("Fold on a decoded state: %v", err)
		}
		if _, err := st.MarshalBinary(); err != nil {
			t.Fatalf("a folded decoded state does not encode: %v", err)
		}
		p.Context(&st)
	})
}
