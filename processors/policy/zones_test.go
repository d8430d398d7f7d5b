package policy

import (
	"testing"
	"time"
)

func TestQuietUntil(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name       string
		zone       string
		start, end string
		now        string
		want       string // "" when not quiet
	}{
		{"utc before start", "UTC", "21:00", "08:00", "2026-11-02T20:59:59Z", ""},
		{"utc at start", "UTC", "21:00", "08:00", "2026-11-02T21:00:00Z", "2026-11-03T08:00:00Z"},
		{"utc after midnight", "UTC", "21:00", "08:00", "2026-11-03T03:00:00Z", "2026-11-03T08:00:00Z"},
		{"utc a second before end", "UTC", "21:00", "08:00", "2026-11-03T07:59:59Z", "2026-11-03T08:00:00Z"},
		{"utc at end", "UTC", "21:00", "08:00", "2026-11-03T08:00:00Z", ""},
		{"same-day window", "UTC", "12:00", "14:00", "2026-11-03T13:15:00Z", "2026-11-03T14:00:00Z"},
		{"same-day window outside", "UTC", "12:00", "14:00", "2026-11-03T14:00:00Z", ""},
		{"tokyo 23:59", "Asia/Tokyo", "21:00", "08:00", "2026-11-02T14:59:00Z", "2026-11-02T23:00:00Z"},
		{"los angeles evening, utc night", "America/Los_Angeles", "21:00", "08:00", "2026-11-03T04:30:00Z", ""},
		{"kathmandu +05:45", "Asia/Kathmandu", "21:00", "08:00", "2026-11-02T16:00:00Z", "2026-11-03T02:15:00Z"},
		// Europe/Paris falls back at 01:00 UTC on 25 October 2026.
		{"paris across fall back", "Europe/Paris", "21:00", "08:00", "2026-10-24T20:30:00Z", "2026-10-25T07:00:00Z"},
		{"paris after fall back", "Europe/Paris", "21:00", "08:00", "2026-10-25T06:30:00Z", "2026-10-25T07:00:00Z"},
		// America/New_York springs forward at 07:00 UTC on 8 March 2026.
		{"new york across spring forward", "America/New_York", "21:00", "08:00", "2026-03-08T04:00:00Z", "2026-03-08T12:00:00Z"},
		// 02:30 does not exist that night: the window ends at the jump to 03:00 EDT.
		{"new york end in the gap", "America/New_York", "21:00", "02:30", "2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z"},
		{"new york end in the gap, early", "America/New_York", "21:00", "02:30", "2026-03-08T03:00:00Z", "2026-03-08T07:00:00Z"},
		// America/New_York falls back at 06:00 UTC on 1 November 2026:
		// 01:30 happens twice, and the window starts again in between.
		{"new york end repeated, first", "America/New_York", "21:00", "01:30", "2026-11-01T05:10:00Z", "2026-11-01T05:30:00Z"},
		{"new york end repeated, between", "America/New_York", "21:00", "01:30", "2026-11-01T05:45:00Z", ""},
		{"new york end repeated, second", "America/New_York", "21:00", "01:30", "2026-11-01T06:10:00Z", "2026-11-01T06:30:00Z"},
		// Lord Howe Island shifts by 30 minutes (+11 to +10:30) at 15:00 UTC on 4 April 2026.
		{"lord howe half-hour shift", "Australia/Lord_Howe", "21:00", "08:00", "2026-04-04T12:00:00Z", "2026-04-04T21:30:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			start, err1 := parseClock(tc.start)
			end, err2 := parseClock(tc.end)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			got, quiet := quietWindow{start, end}.until(utc(tc.now), loc)
			if tc.want == "" {
				if quiet {
					t.Errorf("until(%s) = %s, want not quiet", tc.now, got.Format(time.RFC3339))
				}
				return
			}
			if !quiet || !got.Equal(utc(tc.want)) {
				t.Errorf("until(%s) = %s, %v, want %s (local %s)", tc.now, got.Format(time.RFC3339), quiet, tc.want, utc(tc.want).In(loc))
			}
			if got.Location() != time.UTC {
				t.Errorf("until returned a time in %s, want UTC", got.Location())
			}
		})
	}
}

// TestQuietUntilEndsQuiet checks until against a brute-force search, for
// times through a year in zones with DST (Santiago's changes at
// midnight), with a window whose end falls in the spring-forward gap and
// the fall-back overlap of some of them: until must be the first minute
// whose local time is outside the window.
func TestQuietUntilEndsQuiet(t *testing.T) {
	w := quietWindow{start: 22 * 60, end: 2*60 + 30}
	for _, zone := range []string{"America/New_York", "Europe/Paris", "Australia/Lord_Howe", "America/Santiago"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for now := start; now.Before(start.AddDate(1, 0, 0)); now = now.Add(37 * time.Minute) {
			until, quiet := w.until(now, loc)
			if quiet != w.contains(minuteOfDay(now.In(loc))) {
				t.Fatalf("%s %s: quiet = %v", zone, now, quiet)
			}
			if !quiet {
				continue
			}
			want := now
			for w.contains(minuteOfDay(want.In(loc))) {
				want = want.Add(time.Minute)
			}
			if !until.Equal(want) {
				t.Fatalf("%s %s (%s): until %s (%s), want %s (%s)", zone, now, now.In(loc), until, until.In(loc), want, want.In(loc))
			}
		}
	}
}

func TestZoneCache(t *testing.T) {
	var z zoneCache
	for _, name := range []string{"", "Local", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", string(make([]byte, 100))} {
		if loc := z.get(name); loc != nil {
			t.Errorf("get(%q) = %v, want nil", name, loc)
		}
	}
	a, b := z.get("Europe/Paris"), z.get("Europe/Paris")
	if a == nil || a != b {
		t.Errorf("get(Europe/Paris) = %v then %v, want one cached location", a, b)
	}
	for i := range maxCachedZones + 10 {
		z.get("Nowhere/" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
	}
	if len(z.m) > maxCachedZones {
		t.Errorf("cache holds %d zones, want at most %d", len(z.m), maxCachedZones)
	}
}
