package engagement_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/journey-dev/journey/processors/engagement"
)

// TestDecodesStoredBytes checks that a state encoded before the recent
// events moved to processors/internal/seen (a full Seen and a Floor)
// decodes to the same state and encodes back to the same bytes.
func TestDecodesStoredBytes(t *testing.T) {
	const (
		stored = "80d0faaed3b3f9f11882ffbf28086164766f63617465018080acc7f037206b956edb01646b8180d08e859136de08eb8460c88fd680a0f1c2b134ae826bdb01e2678180f0d380d232352e66db0159618180c0b6bef23014866bdb01e46781809099fc922f673866db015f618180e0fbb9b32d5d11eb8460cd8fd680b0def7d32bb8936edb01636b818080c1b5f4295f00eb8460c38fd680d0a3f3942861846bdb01e3678180a086b1b526502266db0152618180f0e8eed524c7876bdb01e5678180c0cbacf622379c6edb01686b818090aeea9621aa0feb8460cc8fd680e090a8b71fd1986edb01666b8180b0f3e5d71dacfeea8460c28fd68080d6a3f81b487f6bdb01e0678180d0b8e1981a032466db0153618180a09b9fb91816756bdb01da678180f0fddcd916849a6edb01676b8180c0e09afa142b07eb8460c78fd68090c3d89a131e976edb01656b8180e0a596bb111c2966db0156618180b088d4db0ffb806bdb01e167818080eb91fc0db62566db0154618180d0cdcf9c0cc9766bdb01db678180a0b08dbd0a9d9f6edb016a6b8180f092cbdd087805eb8460c68fd680c0f588fe069f8e6edb01606b818090d8c69e05cf2a66db0157618180e0ba84bf037a896bdb01e6678180b09dc2df01692766db0155618100"
		want   = `{"at":"2026-11-01T10:39:00Z","score":84.93453,"tier":"advocate","seen":[{"at":"2026-11-01T10:08:00Z","id":"816b6401db6e956b"},{"at":"2026-11-01T10:09:00Z","id":"d68fc86084eb08de"},{"at":"2026-11-01T10:10:00Z","id":"8167e201db6b82ae"},{"at":"2026-11-01T10:11:00Z","id":"81615901db662e35"},{"at":"2026-11-01T10:12:00Z","id":"8167e401db6b8614"},{"at":"2026-11-01T10:13:00Z","id":"81615f01db663867"},{"at":"2026-11-01T10:14:00Z","id":"d68fcd6084eb115d"},{"at":"2026-11-01T10:15:00Z","id":"816b6301db6e93b8"},{"at":"2026-11-01T10:16:00Z","id":"d68fc36084eb005f"},{"at":"2026-11-01T10:17:00Z","id":"8167e301db6b8461"},{"at":"2026-11-01T10:18:00Z","id":"81615201db662250"},{"at":"2026-11-01T10:19:00Z","id":"8167e501db6b87c7"},{"at":"2026-11-01T10:20:00Z","id":"816b6801db6e9c37"},{"at":"2026-11-01T10:21:00Z","id":"d68fcc6084eb0faa"},{"at":"2026-11-01T10:22:00Z","id":"816b6601db6e98d1"},{"at":"2026-11-01T10:23:00Z","id":"d68fc26084eafeac"},{"at":"2026-11-01T10:24:00Z","id":"8167e001db6b7f48"},{"at":"2026-11-01T10:25:00Z","id":"81615301db662403"},{"at":"2026-11-01T10:26:00Z","id":"8167da01db6b7516"},{"at":"2026-11-01T10:27:00Z","id":"816b6701db6e9a84"},{"at":"2026-11-01T10:28:00Z","id":"d68fc76084eb072b"},{"at":"2026-11-01T10:29:00Z","id":"816b6501db6e971e"},{"at":"2026-11-01T10:30:00Z","id":"81615601db66291c"},{"at":"2026-11-01T10:31:00Z","id":"8167e101db6b80fb"},{"at":"2026-11-01T10:32:00Z","id":"81615401db6625b6"},{"at":"2026-11-01T10:33:00Z","id":"8167db01db6b76c9"},{"at":"2026-11-01T10:34:00Z","id":"816b6a01db6e9f9d"},{"at":"2026-11-01T10:35:00Z","id":"d68fc66084eb0578"},{"at":"2026-11-01T10:36:00Z","id":"816b6001db6e8e9f"},{"at":"2026-11-01T10:37:00Z","id":"81615701db662acf"},{"at":"2026-11-01T10:38:00Z","id":"8167e601db6b897a"},{"at":"2026-11-01T10:39:00Z","id":"81615501db662769"}],"floor":"2026-11-01T10:07:00Z"}`
	)
	data, err := hex.DecodeString(stored)
	if err != nil {
		t.Fatal(err)
	}
	var st engagement.State
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
