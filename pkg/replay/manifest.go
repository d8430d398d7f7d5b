package replay

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/journey-dev/journey/pkg/state"
)

// ManifestKey is the state store's meta entry holding a replay's manifest.
const ManifestKey = "replay"

// Manifest is what a replay records in its state directory: the plan it
// follows (so an interrupted replay resumes towards the same end), whether
// it finished, and what it found. `journey state promote` reads it.
type Manifest struct {
	Topics []string `json:"topics"`
	// From and To are the command's --from and --to, as given.
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	// Ends are the offsets the replay stops before: topic -> partition ->
	// offset. A partition is done when the state's offset reaches its end.
	Ends map[string]map[int]int64 `json:"ends"`
	// Triggers is off or shadow; ShadowPrefix the shadow streams' prefix.
	Triggers     string `json:"triggers"`
	ShadowPrefix string `json:"shadow_prefix,omitempty"`

	Started   time.Time `json:"started"`
	Completed time.Time `json:"completed,omitzero"`
	// Runs counts the invocations (1 + resumes).
	Runs int `json:"runs"`

	// Totals over every run.
	Records      int64            `json:"records"`
	Folded       int64            `json:"events_folded"`
	DeadLettered int64            `json:"dead_lettered"`
	Fired        map[string]int64 `json:"fired"`      // "rule channel" -> triggers admitted
	Suppressed   map[string]int64 `json:"suppressed"` // "rule reason" -> triggers suppressed
}

// Done reports whether the replay reached its end offsets.
func (m *Manifest) Done() bool { return !m.Completed.IsZero() }

// LoadManifest reads the manifest of the replay that wrote s, or
// found=false when s was never written by `journey replay`.
func LoadManifest(s *state.Store) (m Manifest, found bool, err error) {
	b, found, err := s.Meta(ManifestKey)
	if err != nil || !found {
		return m, found, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, true, fmt.Errorf("replay manifest: %w", err)
	}
	return m, true, nil
}

// Save records m in s, durably.
func (m *Manifest) Save(s *state.Store) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.PutMeta(ManifestKey, b)
}
