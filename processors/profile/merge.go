package profile

import (
	"slices"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/internal/procstate"
)

var _ journey.Merger = (*Processor)(nil)

// Merge implements journey.Merger: FirstSeen is the earlier and LastSeen
// the later of the two; LastChannel and TimeZone are the values set by the
// newer event (into's on a tie); the event and channel counters are
// summed, a name new to into counted under "(other)" when into already
// counts the bound's worth of names; consent per channel is the newer
// entry, a refusal winning a tie (channels new to into only while under
// the bound); Identified is true if either was; the anonymous ids are the
// union, the ids of the customer seen less recently first (so the most
// recently seen stay last), the oldest dropped beyond the bound. It emits
// nothing.
func (p *Processor) Merge(into, from journey.State, customerID string, at time.Time, out *journey.Output) (bool, error) {
	s, err := procstate.As[State](into, ErrState)
	if err != nil {
		return false, err
	}
	f, err := procstate.As[State](from, ErrState)
	if err != nil {
		return false, err
	}
	if !f.FirstSeen.IsZero() && (s.FirstSeen.IsZero() || f.FirstSeen.Before(s.FirstSeen)) {
		s.FirstSeen = f.FirstSeen
	}
	if f.LastSeen.After(s.LastSeen) {
		s.LastSeen = f.LastSeen
	}
	if f.LastChannel.Value != "" && f.LastChannel.At.After(s.LastChannel.At) || s.LastChannel.Value == "" {
		s.LastChannel.set(f.LastChannel.Value, f.LastChannel.At)
	}
	if f.TimeZone.Value != "" && f.TimeZone.At.After(s.TimeZone.At) || s.TimeZone.Value == "" {
		s.TimeZone.set(f.TimeZone.Value, f.TimeZone.At)
	}
	s.Identified = s.Identified || f.Identified
	s.Events = sum(s.Events, f.Events, p.cfg.MaxEventNames)
	s.Channels = sum(s.Channels, f.Channels, p.cfg.MaxChannels)
	for _, ch := range sortedKeys(f.Consent) {
		fc := f.Consent[ch]
		old, ok := s.Consent[ch]
		switch {
		case !ok && len(s.Consent) >= p.cfg.MaxChannels:
			continue
		case ok && (fc.At.Before(old.At) || fc.At.Equal(old.At) && (!old.Granted || fc.Granted)):
			continue // into's is newer, or the same time and a refusal (or the same)
		}
		if s.Consent == nil {
			s.Consent = make(map[string]Consent, len(f.Consent))
		}
		s.Consent[ch] = fc
	}
	ids := f.AnonymousIDs
	first, last := s.AnonymousIDs, f.AnonymousIDs
	if f.LastSeen.Before(s.LastSeen) {
		first, last = f.AnonymousIDs, s.AnonymousIDs
	}
	if len(ids) > 0 {
		merged := make([]string, 0, len(first)+len(last))
		for _, id := range first {
			if !slices.Contains(last, id) {
				merged = append(merged, id)
			}
		}
		merged = append(merged, last...)
		if over := len(merged) - p.cfg.MaxAnonymousIDs; over > 0 {
			merged = merged[over:]
		}
		s.AnonymousIDs = merged
	}
	return true, nil
}

// sum adds the counts of b into a; a key new to a goes to Other when a
// counts limit keys besides Other already (as count does), or is too long.
func sum(a, b map[string]uint64, limit int) map[string]uint64 {
	for _, k := range sortedKeys(b) {
		n := b[k]
		if a == nil {
			a = make(map[string]uint64, len(b))
		}
		if _, ok := a[k]; !ok {
			keys := len(a)
			if _, ok := a[Other]; ok {
				keys--
			}
			if keys >= limit || len(k) > maxKeyLen {
				k = Other
			}
		}
		a[k] += n
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
