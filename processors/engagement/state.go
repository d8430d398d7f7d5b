package engagement

import (
	"math"
	"time"

	"github.com/journey-dev/journey/processors/internal/seen"
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
	// Owed is what reversals took back beyond the score (which stops at
	// 0), decayed to At like Score: a refund folded under this id of a
	// purchase counted under another id of the customer. Folds never read
	// it; Merge takes it from the other id's score, as a fold under one
	// id would have taken the refund from the sum.
	Owed Points `json:"owed,omitempty"`
	// Tier is the current tier's name; "" until the first event counted.
	Tier string `json:"tier,omitempty"`
	// Window holds the most recent events counted and the floor at or
	// before which none is counted: a redelivered event is counted once.
	// JSON: "seen" and "floor".
	seen.Window
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

// add adds w points earned at t: a newer t first decays the score to t and
// becomes At; an older one adds w decayed to At.
func (s *State) add(t time.Time, w Points, halfLife time.Duration) {
	switch {
	case s.At.IsZero():
		s.At, s.Score = t, w
	case t.After(s.At):
		s.Score = addPoints(decayed(s.Score, t.Sub(s.At), halfLife), w)
		s.Owed = decayed(s.Owed, t.Sub(s.At), halfLife)
		s.At = t
	default:
		s.Score = addPoints(s.Score, decayed(w, s.At.Sub(t), halfLife))
	}
}

// sub takes w points back at t, as a refund takes a purchase's: a newer t
// first decays the score to t and becomes At; an older one takes w decayed
// to At. The score does not go below 0: what it could not cover is added
// to Owed.
func (s *State) sub(t time.Time, w Points, halfLife time.Duration) {
	if s.At.IsZero() || t.After(s.At) {
		s.Score = decayed(s.Score, t.Sub(s.At), halfLife)
		s.Owed = decayed(s.Owed, t.Sub(s.At), halfLife)
		if s.At.IsZero() {
			s.Score, s.Owed = 0, 0
		}
		s.At = t
	} else {
		w = decayed(w, s.At.Sub(t), halfLife)
	}
	if w > s.Score {
		s.Owed = addPoints(s.Owed, w-s.Score)
	}
	s.Score -= min(s.Score, w)
}

// settle nets Score and Owed, both at At: what is owed is taken from the
// score as far as it goes.
func (s *State) settle() {
	n := min(s.Score, s.Owed)
	s.Score -= n
	s.Owed -= n
}
