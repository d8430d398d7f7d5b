package cart_test

import (
	"strings"
	"testing"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors/cart"
	"github.com/journey-dev/journey/processors/processortest"
)

func mustNew(t testing.TB, cfg cart.Config) *cart.Processor {
	t.Helper()
	p, err := cart.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGolden(t *testing.T) {
	bounded := cart.DefaultConfig()
	bounded.MaxCarts, bounded.MaxItems = 2, 2
	for _, tc := range []struct {
		dir string
		cfg cart.Config
	}{
		{"testdata/defaults", cart.DefaultConfig()},
		{"testdata/bounded", bounded},
		{"testdata/merge", cart.DefaultConfig()},
	} {
		t.Run(strings.TrimPrefix(tc.dir, "testdata/"), func(t *testing.T) {
			processortest.Run(t, mustNew(t, tc.cfg), tc.dir)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*cart.Config)
		want   []string // substrings of the error; none for a valid config
	}{
		{"defaults", func(*cart.Config) {}, nil},
		{"timeout zero", func(c *cart.Config) { c.Timeout = 0 }, []string{"cart.timeout: must be > 0, got 0s"}},
		{"timeout negative", func(c *cart.Config) { c.Timeout = -time.Minute }, []string{"cart.timeout: must be > 0, got -1m0s"}},
		{"timeout a year", func(c *cart.Config) { c.Timeout = 365 * 24 * time.Hour }, nil},
		{"timeout over a year", func(c *cart.Config) { c.Timeout = 366 * 24 * time.Hour }, []string{"cart.timeout: must be at most 8760h0m0s, got 8784h0m0s"}},
		{"no target", func(c *cart.Config) { c.Target = "" }, []string{"cart.target: must name a channel"}},
		{"preferred target", func(c *cart.Config) { c.Target = journey.PreferredChannel }, nil},
		{"max_carts zero", func(c *cart.Config) { c.MaxCarts = 0 }, []string{"cart.max_carts: must be between 1 and 100, got 0"}},
		{"max_carts huge", func(c *cart.Config) { c.MaxCarts = 101 }, []string{"cart.max_carts: must be between 1 and 100, got 101"}},
		{"max_items zero", func(c *cart.Config) { c.MaxItems = 0 }, []string{"cart.max_items: must be between 1 and 1000, got 0"}},
		{"max_items huge", func(c *cart.Config) { c.MaxItems = 1001 }, []string{"cart.max_items: must be between 1 and 1000, got 1001"}},
		{"every field", func(c *cart.Config) { *c = cart.Config{} }, []string{
			"cart.timeout:", "cart.target:", "cart.max_carts:", "cart.max_items:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cart.DefaultConfig()
			tc.change(&cfg)
			processortest.CheckConfig(t, cfg.Validate, func() error { _, err := cart.New(cfg); return err }, tc.want)
		})
	}
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func added(id, customer, cartID, product string, at time.Time) *journey.Event {
	return &journey.Event{
		ID: id, Kind: journey.KindTrack, Name: cart.EventProductAdded, CustomerID: customer, Channel: "web", Time: at,
		Properties: map[string]any{"cart_id": cartID, "product_id": product, "price": 10.0},
	}
}

// engine returns a runner folding through p with in-memory timers.
func engine(t testing.TB, p journey.Processor) (*journey.Runner, *journey.MemTimers) {
	t.Helper()
	e, err := journey.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	r := journey.NewRunner(e, func(string, journey.Processor, journey.State) (bool, error) { return false, nil })
	timers := new(journey.MemTimers)
	r.Timers = timers
	return r, timers
}

// TestTriggerID pins how a trigger id is derived, independently of the
// golden files' hex.
func TestTriggerID(t *testing.T) {
	r, _ := engine(t, mustNew(t, cart.DefaultConfig()))
	var out journey.Output
	if err := r.Apply(added("a1", "cust-1", "k1", "p1", t0), &out); err != nil {
		t.Fatal(err)
	}
	if err := r.Advance(t0.Add(time.Hour), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 {
		t.Fatalf("got %d triggers, want 1", len(out.Triggers))
	}
	if got, want := out.Triggers[0].ID, journey.TriggerID(cart.Rule, "cust-1", "cart:k1@2026-11-01T11:00:00Z"); got != want {
		t.Errorf("trigger id = %s, want TriggerID(rule, customer, cart:<id>@<fire time>) = %s", got, want)
	}
}

// TestCausesBounded checks the causes keep the last 20 adds.
func TestCausesBounded(t *testing.T) {
	p := mustNew(t, cart.DefaultConfig())
	r, _ := engine(t, p)
	var out journey.Output
	for i := range 30 {
		if err := r.Apply(added(string(rune('A'+i)), "c1", "k1", "p1", t0.Add(time.Duration(i)*time.Minute)), &out); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Advance(t0.Add(3*time.Hour), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Triggers) != 1 {
		t.Fatalf("got %d triggers, want 1", len(out.Triggers))
	}
	tr := out.Triggers[0]
	if n := len(tr.Causes); n != 20 || tr.Causes[0] != "K" || tr.Causes[19] != string(rune('A'+29)) {
		t.Errorf("causes = %q, want the last 20 adds, oldest first", tr.Causes)
	}
	if tr.Payload["items"] != uint64(30) || tr.Payload["value"] != 300.0 {
		t.Errorf("payload = %v, want 30 items worth 300", tr.Payload)
	}
}

// TestOnTimer checks timers that no longer mean anything change nothing,
// and one earlier than the cart's deadline is moved to it.
func TestOnTimer(t *testing.T) {
	p := mustNew(t, cart.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	if _, err := p.Fold(st, added("a1", "c1", "k1", "p1", t0), &out); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, key string
		at        time.Time
	}{
		{"unknown key", "dormant", t0.Add(time.Hour)},
		{"unknown cart", "cart:k9", t0.Add(time.Hour)},
	} {
		out.Reset()
		changed, err := p.OnTimer(st, "c1", tc.key, tc.at, &out)
		if err != nil || changed || len(out.Timers) != 0 {
			t.Errorf("%s: OnTimer = %v, %v, timers %v; want no change", tc.name, changed, err, out.Timers)
		}
	}
	out.Reset()
	changed, err := p.OnTimer(st, "c1", "cart:k1", t0.Add(30*time.Minute), &out)
	if err != nil || changed {
		t.Fatalf("early timer: OnTimer = %v, %v; want no change", changed, err)
	}
	if want := (journey.TimerOp{Key: "cart:k1", At: t0.Add(time.Hour)}); len(out.Timers) != 1 || out.Timers[0] != want {
		t.Errorf("early timer: timer ops %v, want %v", out.Timers, want)
	}
	out.Reset()
	if changed, err := p.OnTimer(st, "c1", "cart:k1", t0.Add(time.Hour), &out); err != nil || !changed {
		t.Fatalf("due timer: OnTimer = %v, %v; want a change", changed, err)
	}
	out.Reset()
	if changed, err := p.OnTimer(st, "c1", "cart:k1", t0.Add(time.Hour), &out); err != nil || changed {
		t.Fatalf("timer of an abandoned cart: OnTimer = %v, %v; want no change", changed, err)
	}
}

// TestConfigChangeShrinksState checks that a state written under larger
// bounds is brought within smaller ones by the next cart event, cancelling
// the timers of the carts it drops.
func TestConfigChangeShrinksState(t *testing.T) {
	big := mustNew(t, cart.DefaultConfig())
	st := big.NewState().(*cart.State)
	var out journey.Output
	for i := range 5 {
		for j := range 4 {
			ev := added(string(rune('a'+i*4+j)), "c1", "k"+string(rune('0'+i)), "p"+string(rune('0'+j)), t0.Add(time.Duration(i*4+j)*time.Minute))
			if _, err := big.Fold(st, ev, &out); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := cart.DefaultConfig()
	cfg.MaxCarts, cfg.MaxItems = 2, 3
	small := mustNew(t, cfg)
	out.Reset()
	ev := &journey.Event{ID: "x", Kind: journey.KindTrack, Name: cart.EventCheckoutStarted, CustomerID: "c1", Time: t0.Add(time.Hour),
		Properties: map[string]any{"cart_id": "k9"}}
	if changed, err := small.Fold(st, ev, &out); err != nil || !changed {
		t.Fatalf("Fold = %v, %v; want a change", changed, err)
	}
	if len(st.Carts) != 2 || st.Carts[0].ID != "k3" || st.Carts[1].ID != "k4" {
		t.Fatalf("carts %+v, want k3 and k4, the most recently updated", st.Carts)
	}
	for _, c := range st.Carts {
		if len(c.Items) != 3 || c.Items[0].ProductID != "p1" {
			t.Errorf("cart %s keeps %+v, want the 3 most recently added", c.ID, c.Items)
		}
	}
	var cancelled []string
	for _, op := range out.Timers {
		if op.Cancel {
			cancelled = append(cancelled, op.Key)
		}
	}
	if strings.Join(cancelled, ",") != "cart:k0,cart:k1,cart:k2" {
		t.Errorf("cancelled %v, want the timers of k0, k1 and k2", cancelled)
	}
}

func TestWrongState(t *testing.T) {
	p := mustNew(t, cart.DefaultConfig())
	var out journey.Output
	for _, st := range []journey.State{otherState{}, (*cart.State)(nil)} {
		if _, err := p.Fold(st, added("a", "c1", "k1", "p1", t0), &out); err == nil {
			t.Errorf("Fold of %T succeeded", st)
		}
		if _, err := p.OnTimer(st, "c1", "cart:k1", t0, &out); err == nil {
			t.Errorf("OnTimer of %T succeeded", st)
		}
		if p.Context(st) != nil {
			t.Errorf("Context of %T is not nil", st)
		}
	}
}

type otherState struct{}

func (otherState) MarshalBinary() ([]byte, error) { return nil, nil }
func (otherState) UnmarshalBinary([]byte) error   { return nil }

// TestUnencodableTimeIgnored checks an event time the state cannot hold
// (or whose deadline it cannot) is ignored instead of making the state
// fail to encode.
func TestUnencodableTimeIgnored(t *testing.T) {
	p := mustNew(t, cart.DefaultConfig())
	st := p.NewState()
	var out journey.Output
	for _, at := range []time.Time{{}, time.Date(9999, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)} {
		changed, err := p.Fold(st, added("a", "c1", "k1", "p1", at), &out)
		if err != nil || changed {
			t.Errorf("Fold at %v = %v, %v; want no change", at, changed, err)
		}
	}
	if _, err := st.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
}

// TestContextEmpty checks both fields are present for a customer with no
// cart, so an update replaces stale values.
func TestContextEmpty(t *testing.T) {
	p := mustNew(t, cart.DefaultConfig())
	got := p.Context(p.NewState())
	if got[cart.ContextOpen] != "[]" || got[cart.ContextAbandonedAt] != "" || len(got) != 2 {
		t.Errorf("Context = %q, want cart.open [] and cart.abandoned_at empty", got)
	}
}
