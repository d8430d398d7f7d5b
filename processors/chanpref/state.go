package chanpref

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/processors/internal/seen"
	"github.com/journey-dev/journey/processors/internal/wire"
)

// State is what one customer's responses taught: a decaying score per
// channel and per hour of the day, the customer's last known time zone,
// and the recent event ids that make redeliveries harmless.
type State struct {
	// At is the time of the newest response counted; every score is
	// decayed to it. Zero for a customer with none.
	At time.Time `json:"at,omitzero"`
	// TimeZone is the IANA zone of the newest event (of any kind) that
	// carried a valid one, at ZoneAt; "" when none did (UTC is used).
	TimeZone string    `json:"time_zone,omitempty"`
	ZoneAt   time.Time `json:"zone_at,omitzero"`
	// Channels are the channels responded on, by name; a channel whose
	// score decays to 0 is dropped.
	Channels []Channel `json:"channels,omitempty"`
	// Hours are the scores per hour of the day (0-23) in the customer's
	// time zone, all channels together.
	Hours [24]Points `json:"hours,omitzero"`
	// Window holds the most recent responses counted and the floor at or
	// before which none is counted: a redelivered response is counted
	// once. JSON: "seen" and "floor".
	seen.Window
}

// Channel is the decayed response score of one channel.
type Channel struct {
	Name  string `json:"channel"`
	Score Points `json:"score"`
	// Last is the time of the newest response on the channel.
	Last time.Time `json:"last"`
}

// Points is a score in millionths of a response. Fixed point makes the
// state encode exactly and compactly, and confines to the last digit
// whatever difference the floating-point decay could make across
// platforms.
type Points uint64

const (
	pointScale = wire.Millionths
	// maxPoints caps a score (1e9 responses).
	maxPoints Points = 1e9 * pointScale
)

// Float returns p in responses.
func (p Points) Float() float64 { return float64(p) / pointScale }

// MarshalJSON writes p in responses, exactly: 2.5, 0.000001.
func (p Points) MarshalJSON() ([]byte, error) {
	return wire.AppendMillionths(nil, uint64(p)), nil
}

func addPoints(a, b Points) Points {
	if a > maxPoints-b {
		return maxPoints
	}
	return a + b
}

func scale(p Points, factor float64) Points {
	return Points(math.Round(float64(p) * factor))
}

// factor is the decay over d with half-life h.
func factor(d, h time.Duration) float64 {
	if d <= 0 {
		return 1
	}
	return math.Exp2(-float64(d) / float64(h))
}

// add counts one response on channel ch at t, in the hour of the day hour:
// a newer t first decays every score to t and becomes At; an older one
// adds the response decayed to At.
func (s *State) add(t time.Time, ch string, hour int, halfLife time.Duration) {
	w := Points(pointScale)
	switch {
	case s.At.IsZero():
		s.At = t
	case t.After(s.At):
		f := factor(t.Sub(s.At), halfLife)
		for i := range s.Channels {
			s.Channels[i].Score = scale(s.Channels[i].Score, f)
		}
		for h := range s.Hours {
			s.Hours[h] = scale(s.Hours[h], f)
		}
		s.At = t
	default:
		w = scale(w, factor(s.At.Sub(t), halfLife))
	}
	i, ok := slices.BinarySearchFunc(s.Channels, ch, func(c Channel, name string) int { return strings.Compare(c.Name, name) })
	if !ok {
		s.Channels = slices.Insert(s.Channels, i, Channel{Name: ch})
	}
	c := &s.Channels[i]
	c.Score = addPoints(c.Score, w)
	if t.After(c.Last) {
		c.Last = t
	}
	s.Hours[hour] = addPoints(s.Hours[hour], w)
	s.prune()
}

// prune drops the channels whose score decayed to 0, then the weakest
// beyond maxChannels.
func (s *State) prune() {
	s.Channels = slices.DeleteFunc(s.Channels, func(c Channel) bool { return c.Score == 0 })
	for len(s.Channels) > maxChannels {
		weakest := 0
		for i := 1; i < len(s.Channels); i++ {
			if better(&s.Channels[weakest], &s.Channels[i]) {
				weakest = i
			}
		}
		s.Channels = slices.Delete(s.Channels, weakest, weakest+1)
	}
}

// better reports whether a ranks before b: a higher score, then the more
// recent response, then the name.
func better(a, b *Channel) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	if !a.Last.Equal(b.Last) {
		return a.Last.After(b.Last)
	}
	return a.Name < b.Name
}
