package chanpref_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/journey-dev/journey/processors/chanpref"
)

// TestDecodesStoredBytes checks that a state encoded before the recent
// events moved to processors/internal/seen (a full Seen, a Floor,
// channels, hours and a time zone) decodes to the same state and encodes
// back to the same bytes.
func TestDecodesStoredBytes(t *testing.T) {
	const (
		stored = "070c4575726f70652f506172697380c082f9dce598f21880c082f9dce598f2188080d0b8e1981a0205656d61696ccbf5970c000470757368cb9dc4068080cfa2d2f404ffffff07ecb878dbc778c8d678b5d93be3e03b92e83bc2ef3bf3f63ba5fe3bd7853c8b8d3c8ef976e38777ba967792a577edb377c9c277a7d17788e077e9ee77ccfd77b28c78989b7882aa78206b956edb01646b8180c0edb2feaf19de08eb8460c88fd680808bad9bc718ae826bdb01e2678180c0a8a7b8de17352e66db015961818080c6a1d5f51614866bdb01e4678180c0e39bf28c16673866db015f6181808081968fa4155d11eb8460cd8fd680c09e90acbb14b8936edb01636b818080bc8ac9d2135f00eb8460c38fd680c0d984e6e91261846bdb01e367818080f7fe828112502266db0152618180c094f99f9811c7876bdb01e567818080b2f3bcaf10379c6edb01686b8180c0cfedd9c60faa0feb8460cc8fd68080ede7f6dd0ed1986edb01666b8180c08ae293f50dacfeea8460c28fd68080a8dcb08c0d487f6bdb01e0678180c0c5d6cda30c032466db015361818080e3d0eaba0b16756bdb01da678180c080cb87d20a849a6edb01676b8180809ec5a4e9092b07eb8460c78fd680c0bbbfc180091e976edb01656b818080d9b9de97081c2966db0156618180c0f6b3fbae07fb806bdb01e16781808094ae98c606b62566db0154618180c0b1a8b5dd05c9766bdb01db67818080cfa2d2f4049d9f6edb016a6b8180c0ec9cef8b047805eb8460c68fd680808a978ca3039f8e6edb01606b8180c0a791a9ba02cf2a66db015761818080c58bc6d1017a896bdb01e6678180c0e285e368692766db0155618100"
		want   = `{"at":"2026-11-03T01:00:00Z","time_zone":"Europe/Paris","zone_at":"2026-11-03T01:00:00Z","channels":[{"channel":"email","score":25.557707,"last":"2026-11-03T01:00:00Z"},{"channel":"push","score":13.700811,"last":"2026-11-02T19:00:00Z"}],"hours":[1.973356,1.975259,1.97716,0.978101,0.979043,0.979986,0.98093,0.981875,0.982821,0.983767,0.984715,1.948814,1.950691,1.95257,1.95445,1.956333,1.958217,1.960103,1.961992,1.963881,1.965772,1.967666,1.96956,1.971458],"seen":[{"at":"2026-11-01T18:00:00Z","id":"816b6401db6e956b"},{"at":"2026-11-01T19:00:00Z","id":"d68fc86084eb08de"},{"at":"2026-11-01T20:00:00Z","id":"8167e201db6b82ae"},{"at":"2026-11-01T21:00:00Z","id":"81615901db662e35"},{"at":"2026-11-01T22:00:00Z","id":"8167e401db6b8614"},{"at":"2026-11-01T23:00:00Z","id":"81615f01db663867"},{"at":"2026-11-02T00:00:00Z","id":"d68fcd6084eb115d"},{"at":"2026-11-02T01:00:00Z","id":"816b6301db6e93b8"},{"at":"2026-11-02T02:00:00Z","id":"d68fc36084eb005f"},{"at":"2026-11-02T03:00:00Z","id":"8167e301db6b8461"},{"at":"2026-11-02T04:00:00Z","id":"81615201db662250"},{"at":"2026-11-02T05:00:00Z","id":"8167e501db6b87c7"},{"at":"2026-11-02T06:00:00Z","id":"816b6801db6e9c37"},{"at":"2026-11-02T07:00:00Z","id":"d68fcc6084eb0faa"},{"at":"2026-11-02T08:00:00Z","id":"816b6601db6e98d1"},{"at":"2026-11-02T09:00:00Z","id":"d68fc26084eafeac"},{"at":"2026-11-02T10:00:00Z","id":"8167e001db6b7f48"},{"at":"2026-11-02T11:00:00Z","id":"81615301db662403"},{"at":"2026-11-02T12:00:00Z","id":"8167da01db6b7516"},{"at":"2026-11-02T13:00:00Z","id":"816b6701db6e9a84"},{"at":"2026-11-02T14:00:00Z","id":"d68fc76084eb072b"},{"at":"2026-11-02T15:00:00Z","id":"816b6501db6e971e"},{"at":"2026-11-02T16:00:00Z","id":"81615601db66291c"},{"at":"2026-11-02T17:00:00Z","id":"8167e101db6b80fb"},{"at":"2026-11-02T18:00:00Z","id":"81615401db6625b6"},{"at":"2026-11-02T19:00:00Z","id":"8167db01db6b76c9"},{"at":"2026-11-02T20:00:00Z","id":"816b6a01db6e9f9d"},{"at":"2026-11-02T21:00:00Z","id":"d68fc66084eb0578"},{"at":"2026-11-02T22:00:00Z","id":"816b6001db6e8e9f"},{"at":"2026-11-02T23:00:00Z","id":"81615701db662acf"},{"at":"2026-11-03T00:00:00Z","id":"8167e601db6b897a"},{"at":"2026-11-03T01:00:00Z","id":"81615501db662769"}],"floor":"2026-11-01T17:00:00Z"}`
	)
	data, err := hex.DecodeString(stored)
	if err != nil {
		t.Fatal(err)
	}
	var st chanpref.State
	if err := st.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if got, err := json.Marshal(&st); err != nil || string(got) != want {
		t.Errorf("decoded state:\n got %s (%v)\nwant %s", got, err, want)
	}
	if len(st.Seen) != 32 || st.Floor.IsZero() {
		t.Errorf("%d seen, floor %v: want a full Seen and a floor", len(st.Seen), st.Floor)
	}
	if enc, err := st.MarshalBinary(); err != nil || !bytes.Equal(enc, data) {
		t.Errorf("re-encoded:\n got %x (%v)\nwant %x", enc, err, data)
	}
}
