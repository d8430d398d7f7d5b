package chanpref

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

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
	// Seen are the most recent responses counted (at most 32), by time
	// then id hash: a redelivered one among them is not counted again.
	Seen []Seen `json:"seen,omitempty"`
	// Floor is the time of the newest response Seen forgot: responses at
	// or before it are not counted, as they could be redeliveries.
	Floor time.Time `json:"floor,omitzero"`
}

// Channel is the decayed response score of one channel.
type Channel struct {
	Name  string `json:"channel"`
	Score Points `json:"score"`
	// Last is the time of the newest response on the channel.
	Last time.Time `json:"last"`
}

// Seen is a counted response: its time, in nanoseconds since 1970 (so that
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

// remember records the response (t, id) as seen and reports whether it is
// to be counted: not at or before Floor, not seen already. When Seen is
// full the oldest is forgotten and becomes the Floor.
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
