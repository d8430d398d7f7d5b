package engagement

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// State is one customer's engagement: the score decayed to the time of the
// newest engagement event, the tier, and the recent event ids that make
// redeliveries harmless.
type State struct {
	// At is the time of the newest engagement event counted; Score is
	// decayed to it. Zero for a customer with none.
	At    time.Time `json:"at,omitzero"`
	Score Points    `json:"score"`
	// Tier is the current tier's name; "" until the first event counted.
	Tier string `json:"tier,omitempty"`
	// Seen are the most recent events counted (at most 32), by time then
	// id hash: a redelivered event among them is not counted again.
	Seen []Seen `json:"seen,omitempty"`
	// Floor is the time of the newest event Seen forgot: events at or
	// before it are not counted, as they could be redeliveries.
	Floor time.Time `json:"floor,omitzero"`
}

// Seen is a counted event: its time, in nanoseconds since 1970 (so that
// State.Seen holds no pointers), and the hash of its event id.
type Seen struct {
	At int64
	ID IDHash
}

// MarshalJSON writes {"at": the time in RFC 3339, "id": the hash}.
func (x Seen) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"at":"`), time.Unix(0, x.At).UTC().Format(time.RFC3339Nano)...)
	b = append(b, `","id":`...)
	id, _ := x.ID.MarshalJSON()
	return append(append(b, id...), '}'), nil
}

// maxSeen bounds State.Seen.
const maxSeen = 32

// IDHash is the 64-bit FNV-1a hash of an event id. The state keeps hashes,
// not ids: 8 bytes each, whatever the producer's id format.
type IDHash uint64

func hashID(id string) IDHash {
	return IDHash(wire.HashID(id))
}

// MarshalJSON writes the hash as 16 hex digits.
func (h IDHash) MarshalJSON() ([]byte, error) {
	return wire.AppendHashJSON(make([]byte, 0, 18), uint64(h)), nil
}

// Points is a score in millionths of a point. Fixed point makes the state
// encode exactly and compactly, and confines to the last digit whatever
// difference the floating-point decay could make across platforms.
type Points uint64

const (
	pointScale = wire.Millionths
	// maxPoints caps the score (1e9 points): float64 holds every Points up
	// to it exactly.
	maxPoints Points = 1e9 * pointScale
)

// pointsOf converts f points, rounding to the nearest millionth and
// saturating.
func pointsOf(f float64) Points {
	switch m := f * pointScale; {
	case !(m > 0):
		return 0
	case m >= float64(maxPoints):
		return maxPoints
	default:
		return Points(math.Round(m))
	}
}

// Float returns p in points.
func (p Points) Float() float64 { return float64(p) / pointScale }

// Round1 returns p in points rounded to one decimal, as triggers and the
// context show it.
func (p Points) Round1() float64 { return math.Round(p.Float()*10) / 10 }

// MarshalJSON writes p in points, exactly: 12.5, 0.000001.
func (p Points) MarshalJSON() ([]byte, error) {
	return wire.AppendMillionths(nil, uint64(p)), nil
}

func addPoints(a, b Points) Points {
	if a > maxPoints-b {
		return maxPoints
	}
	return a + b
}

// decayed returns p after d of decay with half-life h.
func decayed(p Points, d, h time.Duration) Points {
	if d <= 0 || p == 0 {
		return p
	}
	return Points(math.Round(float64(p) * math.Exp2(-float64(d)/float64(h))))
}

// remember records the event (t, id) as seen and reports whether it is to
// be counted: not at or before Floor, not seen already. When Seen is full
// the oldest is forgotten and becomes the Floor.
func (s *State) remember(t time.Time, id IDHash) bool {
	if !s.Floor.IsZero() && !t.After(s.Floor) {
		return false
	}
	for i := range s.Seen {
		if s.Seen[i].ID == id {
			return false
		}
	}
	x := Seen{At: t.UnixNano(), ID: id}
	i, _ := slices.BinarySearchFunc(s.Seen, x, compareSeen)
	if len(s.Seen) < maxSeen {
		s.Seen = slices.Insert(s.Seen, i, x)
		return true
	}
	// Full: forget the oldest (x itself when it is older than all), in
	// place.
	old := x
	if i > 0 {
		old = s.Seen[0]
		copy(s.Seen, s.Seen[1:i])
		s.Seen[i-1] = x
	}
	if at := time.Unix(0, old.At).UTC(); at.After(s.Floor) {
		s.Floor = at
	}
	return true
}

func compareSeen(a, b Seen) int {
	if c := cmp.Compare(a.At, b.At); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// add adds w points earned at t: a newer t first decays the score to t and
// becomes At; an older one adds w decayed to At.
func (s *State) add(t time.Time, w Points, halfLife time.Duration) {
	switch {
	case s.At.IsZero():
		s.At, s.Score = t, w
	case t.After(s.At):
		s.Score = addPoints(decayed(s.Score, t.Sub(s.At), halfLife), w)
		s.At = t
	default:
		s.Score = addPoints(s.Score, decayed(w, s.At.Sub(t), halfLife))
	}
}
