package policy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/policy"
)

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) // a Monday, 10:00 UTC

func trig(id, rule, channel string) journey.Trigger {
	return journey.Trigger{ID: id, Rule: rule, CustomerID: "c1", Channel: channel, At: t0, Reason: "test", Causes: []string{"e-" + id}}
}

func noPref() journey.PolicyEnv { return journey.PolicyEnv{} }

func prefers(ch string) journey.PolicyEnv {
	return journey.PolicyEnv{Preferred: func(time.Time) string { return ch }}
}

// admit runs Admit and returns what it decided: "admit <channel>",
// "hold <until>" or the suppression reason.
func admit(t *testing.T, p *policy.Processor, st journey.State, tr journey.Trigger, now time.Time, env journey.PolicyEnv) string {
	t.Helper()
	var out journey.Output
	changed, err := p.Admit(st, tr, now, env, &out)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(out.Triggers) == 1 && len(out.Suppressed) == 0 && len(out.Timers) == 0:
		if out.Triggers[0].ID != tr.ID {
			t.Errorf("admitted id %s, want %s", out.Triggers[0].ID, tr.ID)
		}
		if !changed {
			t.Error("admitted without reporting a change")
		}
		return "admit " + out.Triggers[0].Channel
	case len(out.Suppressed) == 1 && len(out.Triggers) == 0 && len(out.Timers) == 0:
		if !changed {
			t.Error("suppressed without reporting a change (the log)")
		}
		return out.Suppressed[0].Reason
	case len(out.Timers) == 1 && len(out.Triggers) == 0 && len(out.Suppressed) == 0:
		if !changed {
			t.Error("held without reporting a change")
		}
		if want := "held/" + tr.ID; out.Timers[0].Key != want {
			t.Errorf("timer key %q, want %q", out.Timers[0].Key, want)
		}
		return "hold " + out.Timers[0].At.Format(time.RFC3339)
	case len(out.Triggers)+len(out.Suppressed)+len(out.Timers) == 0:
		if changed {
			t.Error("nothing decided, but a change reported")
		}
		return "nothing"
	}
	t.Fatalf("Admit produced %+v", out)
	return ""
}

func fold(t *testing.T, p *policy.Processor, st journey.State, ev journey.Event) bool {
	t.Helper()
	if ev.Kind == "" {
		ev.Kind = journey.KindTrack
	}
	ev.CustomerID = "c1"
	changed, err := p.Fold(st, &ev, &journey.Output{})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// openConfig is the defaults with no consent needed and no quiet hours.
func openConfig() policy.Config {
	cfg := policy.DefaultConfig()
	cfg.Consent.Required = nil
	cfg.QuietHours.Channels = nil
	return cfg
}

func TestAdmitConsent(t *testing.T) {
	p := mustNew(t, policy.DefaultConfig())
	st := p.NewState()
	if got := admit(t, p, st, trig("1", "r1", "email"), t0, noPref()); got != policy.ReasonNoConsent {
		t.Errorf("never consented: %s", got)
	}
	if got := admit(t, p, st, trig("2", "r2", "call_centre"), t0, noPref()); got != "admit call_centre" {
		t.Errorf("channel that needs no consent: %s", got)
	}
	fold(t, p, st, journey.Event{Kind: journey.KindIdentify, Time: t0, Consent: map[string]bool{"email": true}})
	if got := admit(t, p, st, trig("3", "r3", "email"), t0, noPref()); got != "admit email" {
		t.Errorf("granted: %s", got)
	}
	fold(t, p, st, journey.Event{Name: policy.EventEmailUnsubscribed, Time: t0.Add(time.Minute)})
	if got := admit(t, p, st, trig("4", "r4", "email"), t0.Add(2*time.Minute), noPref()); got != policy.ReasonNoConsent {
		t.Errorf("revoked: %s", got)
	}

	cfg := policy.DefaultConfig()
	cfg.Consent.Default = policy.ConsentGrant
	p = mustNew(t, cfg)
	st = p.NewState()
	if got := admit(t, p, st, trig("5", "r5", "sms"), t0, noPref()); got != "admit sms" {
		t.Errorf("opt-out, nothing recorded: %s", got)
	}
	fold(t, p, st, journey.Event{Kind: journey.KindIdentify, Time: t0, Consent: map[string]bool{"push": false}})
	if got := admit(t, p, st, trig("6", "r6", "push"), t0, noPref()); got != policy.ReasonNoConsent {
		t.Errorf("opt-out, refused: %s", got)
	}
}

func TestFoldConsentEvents(t *testing.T) {
	p := mustNew(t, policy.DefaultConfig())
	for _, tc := range []struct {
		ev   journey.Event
		ch   string
		want bool
	}{
		{journey.Event{Name: policy.EventEmailUnsubscribed}, "email", false},
		{journey.Event{Name: policy.EventEmailMarkedAsSpam}, "email", false},
		{journey.Event{Name: policy.EventSMSUnsubscribed}, "sms", false},
		{journey.Event{Name: policy.EventPushDisabled}, "push", false},
		{journey.Event{Name: policy.EventPushEnabled}, "push", true},
		{journey.Event{Name: policy.EventConsentUpdated, Properties: map[string]any{"channel": "whatsapp", "granted": true}}, "whatsapp", true},
		// A CloudEvent mapped to a track name counts; an unmapped one does not.
		{journey.Event{Kind: journey.KindCloudEvent, Name: policy.EventEmailUnsubscribed}, "", false},
	} {
		st := p.NewState().(*policy.State)
		tc.ev.Time = t0
		changed := fold(t, p, st, tc.ev)
		if tc.ch == "" {
			if changed || len(st.Consent) > 0 {
				t.Errorf("%s %q recorded %+v", tc.ev.Kind, tc.ev.Name, st.Consent)
			}
			continue
		}
		if !changed || len(st.Consent) != 1 || st.Consent[0] != (policy.ChannelConsent{Channel: tc.ch, Granted: tc.want, At: t0}) {
			t.Errorf("%q recorded %+v (changed %v), want %s=%v", tc.ev.Name, st.Consent, changed, tc.ch, tc.want)
		}
		if fold(t, p, st, tc.ev) {
			t.Errorf("%q folded twice reported a change", tc.ev.Name)
		}
	}
}

func TestFoldTimeZone(t *testing.T) {
	p := mustNew(t, policy.DefaultConfig())
	st := p.NewState().(*policy.State)
	if !fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: t0, TimeZone: "Europe/Paris"}) || st.TimeZone != "Europe/Paris" {
		t.Fatalf("zone not recorded: %+v", st)
	}
	for _, z := range []string{"Mars/Olympus_Mons", "Local", strings.Repeat("x", 100)} {
		if fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: t0.Add(time.Hour), TimeZone: z}) {
			t.Errorf("zone %q recorded", z)
		}
	}
	if fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: t0.Add(-time.Hour), TimeZone: "Asia/Tokyo"}) {
		t.Error("an older event's zone replaced a newer one's")
	}
	if !fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: t0.Add(time.Hour), TimeZone: "Asia/Tokyo"}) || st.TimeZone != "Asia/Tokyo" {
		t.Errorf("a newer zone was not recorded: %+v", st)
	}
	if fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), TimeZone: "UTC"}) {
		t.Error("an event the state cannot hold the time of was folded")
	}
}

func TestAdmitRouting(t *testing.T) {
	cfg := openConfig()
	cfg.DefaultCooldown = 0
	cfg.Caps = nil
	cfg.FallbackChannel = "app_inbox"
	cfg.Rules = policy.Rules{"recovery": {Target: "call_centre"}, "winback": {Target: journey.PreferredChannel}}
	p := mustNew(t, cfg)
	st := p.NewState()
	for _, tc := range []struct {
		rule, channel string
		env           journey.PolicyEnv
		want          string
	}{
		{"r", "preferred", noPref(), "admit app_inbox"},
		{"r", "preferred", prefers(""), "admit app_inbox"},
		{"r", "preferred", prefers("preferred"), "admit app_inbox"},
		{"r", "preferred", prefers("sms"), "admit sms"},
		{"r", "email", prefers("sms"), "admit email"},
		{"recovery", "email", prefers("sms"), "admit call_centre"},
		{"winback", "email", prefers("push"), "admit push"},
		{"winback", "email", noPref(), "admit app_inbox"},
	} {
		if got := admit(t, p, st, trig(tc.rule+tc.channel+tc.want, tc.rule, tc.channel), t0, tc.env); got != tc.want {
			t.Errorf("%s on %s: %s, want %s", tc.rule, tc.channel, got, tc.want)
		}
	}
	// Preferred is asked at the decision time.
	var asked time.Time
	env := journey.PolicyEnv{Preferred: func(at time.Time) string { asked = at; return "sms" }}
	admit(t, p, st, trig("x", "r", "preferred"), t0.Add(time.Hour), env)
	if !asked.Equal(t0.Add(time.Hour)) {
		t.Errorf("Preferred asked at %s, want %s", asked, t0.Add(time.Hour))
	}
}

func TestAdmitCooldown(t *testing.T) {
	cfg := openConfig()
	cfg.Caps = nil
	cfg.Rules = policy.Rules{"short": {Cooldown: ptr(time.Hour)}, "none": {Cooldown: ptr(time.Duration(0))}}
	p := mustNew(t, cfg)
	st := p.NewState()
	steps := []struct {
		id, rule string
		at       time.Duration
		want     string
	}{
		{"1", "r", 0, "admit email"},
		{"2", "r", 24*time.Hour - time.Nanosecond, policy.ReasonCooldown},
		{"3", "r", 24 * time.Hour, "admit email"},
		{"4", "r", 2 * time.Hour, policy.ReasonCooldown}, // late: 22h before 3
		{"5", "short", 0, "admit email"},
		{"6", "short", time.Hour, "admit email"},
		{"7", "none", 0, "admit email"},
		{"8", "none", 0, "admit email"},
	}
	for _, s := range steps {
		if got := admit(t, p, st, trig(s.id, s.rule, "email"), t0.Add(s.at), noPref()); got != s.want {
			t.Errorf("trigger %s (%s at +%s): %s, want %s", s.id, s.rule, s.at, got, s.want)
		}
	}
}

func TestAdmitCap(t *testing.T) {
	cfg := openConfig()
	cfg.DefaultCooldown = 0
	cfg.Caps = policy.Caps{"email": {Max: 2, Window: 24 * time.Hour}}
	p := mustNew(t, cfg)
	st := p.NewState().(*policy.State)
	steps := []struct {
		at   time.Duration
		ch   string
		want string
	}{
		{0, "email", "admit email"},
		{time.Hour, "email", "admit email"},
		{2 * time.Hour, "email", policy.ReasonChannelCap},
		{2 * time.Hour, "push", "admit push"},
		{24*time.Hour - time.Nanosecond, "email", policy.ReasonChannelCap},
		{24 * time.Hour, "email", "admit email"}, // the first left the window
		{25*time.Hour - time.Nanosecond, "email", policy.ReasonChannelCap},
		{25 * time.Hour, "email", "admit email"},
	}
	for i, s := range steps {
		if got := admit(t, p, st, trig(string(rune('a'+i)), "r", s.ch), t0.Add(s.at), noPref()); got != s.want {
			t.Errorf("step %d (%s at +%s): %s, want %s", i, s.ch, s.at, got, s.want)
		}
	}
	c := st.Channels[slices.IndexFunc(st.Channels, func(c policy.ChannelContact) bool { return c.Channel == "email" })]
	if want := []time.Time{t0.Add(24 * time.Hour), t0.Add(25 * time.Hour)}; !slices.Equal(c.Recent, want) {
		t.Errorf("recent = %v, want the last 2 (the cap): %v", c.Recent, want)
	}
	if len(st.Channels) != 2 || st.Channels[1].Recent != nil {
		t.Errorf("an uncapped channel keeps recent times: %+v", st.Channels)
	}
}

func TestAdmitQuietHoldAndRelease(t *testing.T) {
	cfg := openConfig()
	cfg.QuietHours.Channels = []string{"push"}
	p := mustNew(t, cfg)
	st := p.NewState().(*policy.State)
	fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: t0, TimeZone: "Europe/Paris"})
	night := time.Date(2026, 11, 2, 21, 30, 0, 0, time.UTC) // 22:30 CET
	tr := trig("h1", "interest", "preferred")
	tr.Payload = map[string]any{"big": int64(1) << 60, "skus": []string{"a", "b"}}
	if got := admit(t, p, st, tr, night, prefers("push")); got != "hold 2026-11-03T07:00:00Z" {
		t.Fatalf("quiet push: %s", got)
	}
	// The same trigger again (a replayed event): nothing new.
	if got := admit(t, p, st, tr, night.Add(time.Minute), prefers("push")); got != "nothing" {
		t.Errorf("same trigger again: %s", got)
	}
	if got := admit(t, p, st, trig("h2", "other", "email"), night, prefers("push")); got != "admit email" {
		t.Errorf("a channel that is not quiet: %s", got)
	}
	if len(st.Held) != 1 || st.Held[0].Channel != "push" {
		t.Fatalf("held = %+v", st.Held)
	}

	// Through the encoding, as the store would.
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	st2 := p.NewState()
	if err := st2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	var out journey.Output
	if changed, err := p.OnTimer(st2, "c1", "held/nope", night, &out); err != nil || changed {
		t.Errorf("unknown held id: %v %v", changed, err)
	}
	if changed, err := p.OnTimer(st2, "c1", "other", night, &out); err != nil || changed {
		t.Errorf("unknown key: %v %v", changed, err)
	}
	release := time.Date(2026, 11, 3, 7, 0, 0, 0, time.UTC)
	changed, err := p.OnTimer(st2, "c1", "held/h1", release, &out)
	if err != nil || !changed || len(out.Triggers) != 1 {
		t.Fatalf("release: %v %v %+v", changed, err, out)
	}
	got := out.Triggers[0]
	if got.ID != "h1" || got.Channel != "push" || !got.At.Equal(t0) || got.Reason != "test" || !slices.Equal(got.Causes, []string{"e-h1"}) {
		t.Errorf("released %+v", got)
	}
	pj, _ := json.Marshal(got.Payload)
	if string(pj) != `{"big":1152921504606846976,"skus":["a","b"]}` {
		t.Errorf("released payload %s", pj)
	}
	if s2 := st2.(*policy.State); len(s2.Held) != 0 || s2.Channels[len(s2.Channels)-1].Last != release {
		t.Errorf("after release: %+v", s2)
	}
	// The timer fired twice (it cannot, but a store might): nothing.
	out.Reset()
	if changed, _ := p.OnTimer(st2, "c1", "held/h1", release, &out); changed || len(out.Triggers) > 0 {
		t.Errorf("second release: %v %+v", changed, out)
	}
}

func TestAdmitQuietDropAndHoldFull(t *testing.T) {
	cfg := openConfig()
	cfg.QuietHours.Channels = []string{"sms"}
	cfg.Rules = policy.Rules{"flash": {Quiet: policy.QuietDrop}}
	cfg.MaxHeld = 1
	p := mustNew(t, cfg)
	st := p.NewState()
	night := time.Date(2026, 11, 2, 23, 0, 0, 0, time.UTC)
	if got := admit(t, p, st, trig("1", "flash", "sms"), night, noPref()); got != policy.ReasonQuietHours {
		t.Errorf("drop: %s", got)
	}
	if got := admit(t, p, st, trig("2", "r", "sms"), night, noPref()); got != "hold 2026-11-03T08:00:00Z" {
		t.Errorf("hold: %s", got)
	}
	if got := admit(t, p, st, trig("3", "r2", "sms"), night, noPref()); got != policy.ReasonHoldFull {
		t.Errorf("hold full: %s", got)
	}
	cfg.MaxHeld = 10
	p = mustNew(t, cfg)
	big := trig("4", "r3", "sms")
	big.Payload = map[string]any{"blob": strings.Repeat("x", 5000)}
	if got := admit(t, p, st, big, night, noPref()); got != policy.ReasonHoldFull {
		t.Errorf("payload too big to hold: %s", got)
	}
	bad := trig("5", "r4", "sms")
	bad.Payload = map[string]any{"f": func() {}}
	if got := admit(t, p, st, bad, night, noPref()); got != policy.ReasonHoldFull {
		t.Errorf("payload that is not JSON: %s", got)
	}
}

func TestAdmitInvalid(t *testing.T) {
	p := mustNew(t, openConfig())
	st := p.NewState().(*policy.State)
	if got := admit(t, p, st, trig("1", "r", ""), t0, noPref()); got != policy.ReasonInvalid {
		t.Errorf("no channel: %s", got)
	}
	if got := admit(t, p, st, trig("2", "r", strings.Repeat("c", 200)), t0, noPref()); got != policy.ReasonInvalid {
		t.Errorf("channel too long: %s", got)
	}
	if got := admit(t, p, st, trig("3", "r", "email"), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), noPref()); got != policy.ReasonInvalid {
		t.Errorf("time out of range: %s", got)
	}
	if len(st.Log) != 3 || len(st.Log[1].Channel) != 128 || !st.Log[2].At.IsZero() {
		t.Errorf("log = %+v", st.Log)
	}
	if _, err := st.MarshalBinary(); err != nil {
		t.Errorf("the state does not encode: %v", err)
	}
}

func TestSuppressionLog(t *testing.T) {
	cfg := policy.DefaultConfig()
	cfg.MaxLog = 3
	p := mustNew(t, cfg)
	st := p.NewState().(*policy.State)
	for i := range 5 {
		admit(t, p, st, trig(string(rune('a'+i)), "r", "email"), t0.Add(time.Duration(i)*time.Minute), noPref())
	}
	if len(st.Log) != 3 {
		t.Fatalf("log holds %d entries, want 3", len(st.Log))
	}
	want := policy.Suppression{At: t0.Add(4 * time.Minute), Rule: "r", Channel: "email", Reason: policy.ReasonNoConsent, TriggerID: "e"}
	if st.Log[0].TriggerID != "c" || st.Log[2] != want {
		t.Errorf("log = %+v", st.Log)
	}
}

func TestContext(t *testing.T) {
	p := mustNew(t, policy.DefaultConfig())
	st := p.NewState()
	if got := p.Context(st); got[policy.ContextConsent] != "[]" || got[policy.ContextLastContact] != "{}" {
		t.Errorf("empty context = %v", got)
	}
	fold(t, p, st, journey.Event{Kind: journey.KindIdentify, Time: t0, Consent: map[string]bool{"email": true, "sms": false, "whatsapp": true, "call_centre": false}})
	admit(t, p, st, trig("1", "r", "email"), t0, noPref())
	got := p.Context(st)
	if want := `["email","whatsapp"]`; got[policy.ContextConsent] != want {
		t.Errorf("%s = %s, want %s", policy.ContextConsent, got[policy.ContextConsent], want)
	}
	if want := `{"email":"2026-11-02T10:00:00Z"}`; got[policy.ContextLastContact] != want {
		t.Errorf("%s = %s, want %s", policy.ContextLastContact, got[policy.ContextLastContact], want)
	}
}

func TestWrongState(t *testing.T) {
	p := mustNew(t, policy.DefaultConfig())
	var other struct{ journey.State }
	var out journey.Output
	if _, err := p.Admit(other, trig("1", "r", "email"), t0, noPref(), &out); !errors.Is(err, policy.ErrState) {
		t.Errorf("Admit: %v", err)
	}
	if _, err := p.Fold(other, &journey.Event{Time: t0}, &out); !errors.Is(err, policy.ErrState) {
		t.Errorf("Fold: %v", err)
	}
	if _, err := p.OnTimer(other, "c", "held/x", t0, &out); !errors.Is(err, policy.ErrState) {
		t.Errorf("OnTimer: %v", err)
	}
	if p.Context(other) != nil {
		t.Error("Context of a wrong state")
	}
}

// TestBoundedHistories checks that rules and channels beyond the bounds
// evict the least recently contacted.
func TestBoundedHistories(t *testing.T) {
	cfg := openConfig()
	cfg.DefaultCooldown = 0
	cfg.Caps = nil
	p := mustNew(t, cfg)
	st := p.NewState().(*policy.State)
	for i := range 100 {
		ch := "ch" + string(rune('A'+i%50))
		rule := "rule" + string(rune('A'+i))
		admit(t, p, st, trig(rule, rule, ch), t0.Add(time.Duration(i)*time.Minute), noPref())
		fold(t, p, st, journey.Event{Kind: journey.KindIdentify, Time: t0.Add(time.Duration(i) * time.Minute), Consent: map[string]bool{ch: true}})
	}
	if len(st.Rules) != 64 || len(st.Channels) != 32 || len(st.Consent) != 32 {
		t.Errorf("rules %d, channels %d, consent %d; want 64, 32, 32", len(st.Rules), len(st.Channels), len(st.Consent))
	}
	if st.Rules[0].Rule != "rule"+string(rune('A'+36)) {
		t.Errorf("oldest rule kept = %s", st.Rules[0].Rule)
	}
	if _, err := st.MarshalBinary(); err != nil {
		t.Error(err)
	}
}

// TestRefusalBound checks the one bound on refusals: 300 refused channels
// keep the newest 256, which encode and decode; no grant displaces them.
func TestRefusalBound(t *testing.T) {
	p := mustNew(t, openConfig())
	st := p.NewState().(*policy.State)
	for i := range 300 {
		ch := fmt.Sprintf("ch%03d", i)
		fold(t, p, st, journey.Event{Kind: journey.KindIdentify, Time: t0.Add(time.Duration(i) * time.Minute), Consent: map[string]bool{ch: false}})
	}
	fold(t, p, st, journey.Event{Kind: journey.KindIdentify, Time: t0.Add(time.Hour * 24), Consent: map[string]bool{"new": true}})
	if len(st.Consent) != 256 || st.Consent[0].Channel != "ch044" {
		t.Fatalf("consent %d entries, first %s; want 256, ch044", len(st.Consent), st.Consent[0].Channel)
	}
	for _, c := range st.Consent {
		if c.Granted {
			t.Fatalf("a grant displaced a refusal: %+v", c)
		}
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var st2 policy.State
	if err := st2.UnmarshalBinary(b); err != nil || len(st2.Consent) != 256 {
		t.Fatalf("decode: %v, %d entries", err, len(st2.Consent))
	}
}

// A rule's TTL: a trigger quiet hours would hold past At + TTL is
// suppressed as expired at once; one held within it goes out at the
// window's end; a held trigger released past its TTL (the TTL shortened
// meanwhile) is expired then. Rules without a TTL hold as before.
func TestAdmitTTL(t *testing.T) {
	cfg := openConfig()
	cfg.QuietHours.Channels = []string{"push"}
	short, long := 2*time.Hour, 12*time.Hour
	cfg.Rules = policy.Rules{"cart": {TTL: short}, "late": {TTL: long}}
	p := mustNew(t, cfg)
	st := p.NewState().(*policy.State)
	fold(t, p, st, journey.Event{Kind: journey.KindPage, Time: t0, TimeZone: "Europe/Paris"})
	night := time.Date(2026, 11, 2, 21, 30, 0, 0, time.UTC) // 22:30 CET; quiet until 07:00 UTC (08:00 CET)
	at := func(tr journey.Trigger) journey.Trigger { tr.At = night; return tr }
	if got := admit(t, p, st, at(trig("t1", "cart", "push")), night, noPref()); got != policy.ReasonExpired {
		t.Errorf("cart (ttl 2h) in quiet hours until morning: %s, want expired", got)
	}
	if got := admit(t, p, st, at(trig("t2", "late", "push")), night, noPref()); got != "hold 2026-11-03T07:00:00Z" {
		t.Errorf("late (ttl 12h): %s, want held", got)
	}
	if got := admit(t, p, st, at(trig("t3", "other", "push")), night, noPref()); got != "hold 2026-11-03T07:00:00Z" {
		t.Errorf("no ttl: %s, want held", got)
	}
	if got := admit(t, p, st, at(trig("t4", "cart", "email")), night, noPref()); got != "admit email" {
		t.Errorf("cart on a channel that is not quiet: %s", got)
	}
	// The TTL of "late" shortened before the release: expired then.
	cfg.Rules["late"] = policy.Rule{TTL: time.Hour}
	p2 := mustNew(t, cfg)
	var out journey.Output
	if _, err := p2.OnTimer(st, "c1", "held/t2", time.Date(2026, 11, 3, 7, 0, 0, 0, time.UTC), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 0 || len(out.Suppressed) != 1 || out.Suppressed[0].Reason != policy.ReasonExpired {
		t.Errorf("release past the ttl: %+v", out)
	}
	out.Reset()
	if _, err := p2.OnTimer(st, "c1", "held/t3", time.Date(2026, 11, 3, 7, 0, 0, 0, time.UTC), &out); err != nil || len(out.Triggers) != 1 {
		t.Errorf("release without a ttl: %+v (%v)", out, err)
	}
}

// A rule's holdout: over 100,000 customers the share held out is within
// 1% of the configured 10%, the same customers on every run; a held-out
// customer's trigger that passes every check is suppressed as holdout and
// records no contact (its cooldown does not start); other rules are not
// held out.
func TestAdmitHoldout(t *testing.T) {
	cfg := openConfig()
	cfg.Rules = policy.Rules{"interest": {Holdout: 0.10}}
	p := mustNew(t, cfg)
	const n = 100_000
	held := 0
	for i := range n {
		c := fmt.Sprintf("customer-%d", i)
		b := policy.HoldoutBucket("interest", c)
		if b < 0 || b >= 1 || b != policy.HoldoutBucket("interest", c) {
			t.Fatalf("bucket of %s: %v, not stable in [0, 1)", c, b)
		}
		if b < 0.10 {
			held++
		}
	}
	if share := float64(held) / n; share < 0.09 || share > 0.11 {
		t.Errorf("held out %.4f of %d customers, want 0.10 ± 0.01", share, n)
	}
	var in, out string // a customer held out of "interest", and one not
	for i := 0; in == "" || out == ""; i++ {
		c := fmt.Sprintf("customer-%d", i)
		if policy.HoldoutBucket("interest", c) < 0.10 {
			in = c
		} else {
			out = c
		}
	}
	states := map[string]*policy.State{in: p.NewState().(*policy.State), out: p.NewState().(*policy.State)}
	for i, tc := range []struct {
		customer, rule, want string
	}{
		{in, "interest", policy.ReasonHoldout},
		{in, "interest", policy.ReasonHoldout}, // held out again, not in a cooldown the first started
		{in, "cart", "admit email"},
		{out, "interest", "admit email"},
	} {
		st := states[tc.customer]
		tr := trig(fmt.Sprintf("x%d", i), tc.rule, "email")
		tr.CustomerID = tc.customer
		if got := admit(t, p, st, tr, t0, noPref()); got != tc.want {
			t.Errorf("%s, rule %s: %s, want %s", tc.customer, tc.rule, got, tc.want)
		}
		if tc.want == policy.ReasonHoldout && len(st.Channels) != 0 && i < 2 {
			t.Errorf("a held-out trigger recorded a contact: %+v", st.Channels)
		}
	}
}
