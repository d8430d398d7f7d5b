package policy

import (
	"errors"
	"fmt"
	"sync"
	"time"
	// Time zones must resolve the same on every machine, including
	// minimal containers with no zoneinfo files.
	_ "time/tzdata"
)

// maxZoneLen bounds the time-zone names looked up and kept: the longest
// IANA name is about 30 bytes.
const maxZoneLen = 64

// maxCachedZones bounds the zone cache. There are about 600 IANA names;
// beyond the bound, names are looked up every time (not cached) so that
// producers sending junk cannot grow it.
const maxCachedZones = 1024

// loadZone loads an IANA zone, refusing the names whose meaning depends on
// the machine ("" and "Local" are the host's zone; a fold must not depend
// on it).
func loadZone(name string) (*time.Location, error) {
	switch {
	case name == "" || name == "Local":
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	case len(name) > maxZoneLen:
		return nil, fmt.Errorf("time zone name longer than %d bytes", maxZoneLen)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, errors.New(err.Error())
	}
	return loc, nil
}

// zoneCache caches loadZone, including its failures. It is safe for
// concurrent use: one Processor serves every partition's worker.
type zoneCache struct {
	mu sync.RWMutex
	m  map[string]*time.Location // nil: the name does not load
}

// get returns the zone name, or nil when it does not load.
func (z *zoneCache) get(name string) *time.Location {
	if name == "" || len(name) > maxZoneLen {
		return nil
	}
	z.mu.RLock()
	loc, ok := z.m[name]
	z.mu.RUnlock()
	if ok {
		return loc
	}
	loc, _ = loadZone(name)
	z.mu.Lock()
	if z.m == nil {
		z.m = make(map[string]*time.Location)
	}
	if len(z.m) < maxCachedZones {
		z.m[name] = loc
	}
	z.mu.Unlock()
	return loc
}

// quietWindow is the quiet part of a day, in minutes after local
// midnight: [start, end), spanning midnight when start > end.
type quietWindow struct{ start, end int }

// minuteOfDay is t's local wall-clock time in minutes after midnight.
func minuteOfDay(t time.Time) int {
	h, m, _ := t.Clock()
	return h*60 + m
}

// contains reports whether the local wall-clock minute m is quiet.
func (w quietWindow) contains(m int) bool {
	if w.start < w.end {
		return m >= w.start && m < w.end
	}
	return m >= w.start || m < w.end
}

// until returns when the quiet window that now is in ends: the first
// instant at or after now whose local time in loc is outside the window,
// and false when now is not quiet.
//
// It walks the zone's offset periods rather than calling time.Date on the
// end's wall-clock time, which is ambiguous or missing on DST days: when
// the clocks go back the end time happens twice (the window can start
// again in between), and when they go forward it may not happen at all
// (the window then ends at the jump).
func (w quietWindow) until(now time.Time, loc *time.Location) (time.Time, bool) {
	const day = 24 * 60 * 60
	t := now.In(loc)
	if !w.contains(minuteOfDay(t)) {
		return time.Time{}, false
	}
	for range 8 { // a few offset periods at most: zones change twice a year
		_, offset := t.Zone()
		_, periodEnd := t.ZoneBounds()
		// Within the period, local wall-clock seconds are t + offset.
		wall := t.Unix() + int64(offset)
		midnight := wall - mod(wall, day)
		endWall := midnight + int64(w.end)*60
		if endWall <= wall {
			endWall += day
		}
		end := time.Unix(endWall-int64(offset), 0).In(loc)
		if periodEnd.IsZero() || end.Before(periodEnd) {
			return end.UTC(), true
		}
		// The offset changes first: the window may end at the change.
		t = periodEnd.In(loc)
		if !w.contains(minuteOfDay(t)) {
			return t.UTC(), true
		}
	}
	// Unreachable with real zones; a day from now is safe and progresses.
	return now.Add(day * time.Second).UTC(), true
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}
