package engagement_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/engagement"
)

// FuzzUnmarshalBinary checks that decoding arbitrary bytes never panics,
// and that a state it accepts encodes canonically and can be folded into.
// The seed corpus is in testdata/fuzz/FuzzUnmarshalBinary.
func FuzzUnmarshalBinary(f *testing.F) {
	p, err := engagement.New(engagement.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	events := []*journey.Event{
		{ID: "fz1", Kind: journey.KindTrack, Name: "Order Completed", CustomerID: "c1", Channel: "web", Time: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
		{ID: "fz2", Kind: journey.KindPage, Name: "Home", CustomerID: "c1", Channel: "web", Time: time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)},
		{ID: "fz3", Kind: journey.KindTrack, Name: "Product Viewed", CustomerID: "c1", Channel: "web", Time: time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st engagement.State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		enc, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		var again engagement.State
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("the encoding of a decoded state does not decode: %v", err)
		}
		if enc2, _ := again.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
		var out journey.Output
		for _, e := range events {
			if _, err := p.Fold(&st, e, &out); err != nil {
				t.Fatalf("Fold on a decoded state: %v", err)
			}
			if _, err := st.MarshalBinary(); err != nil {
				t.Fatalf("a folded decoded state does not encode: %v", err)
			}
		}
		p.Context(&st)
	})
}
