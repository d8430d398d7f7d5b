package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/pkg/api"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

// TestErrors checks the answers that need no customer: 404 for an id the
// store holds nothing of, 400 for malformed ids and limits, each a JSON
// error; and the page at /. The rig test in cmd/journey checks a real
// customer's answer.
func TestErrors(t *testing.T) {
	store, procs := emptyStore(t)
	h, err := api.NewHandler(store, procs, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/v1/customers/nobody", http.StatusNotFound, "no customer with this id"},
		{"/v1/customers/a%00b", http.StatusBadRequest, "customer id holds control characters"},
		{"/v1/customers/a%ffb", http.StatusBadRequest, "customer id is not UTF-8"},
		{"/v1/customers/" + strings.Repeat("x", api.MaxIDLen+1), http.StatusBadRequest, "customer id longer than 1024 bytes"},
		{"/v1/customers/nobody?limit=x", http.StatusBadRequest, "limit: want a whole number >= 0"},
		{"/nothing-here", http.StatusNotFound, "not found"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		var body struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.code || body.Error != tc.msg {
			t.Errorf("GET %.40s: %d %q (%v), want %d %q", tc.path, rec.Code, rec.Body.String(), err, tc.code, tc.msg)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %.40s: Content-Type %q", tc.path, ct)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// fakeForgetter records the ids it was asked to forget; its errors are
// set by the test.
type fakeForgetter struct {
	ids               []string
	forgetErr, wait   error
	waited, forgotten int
}

func (f *fakeForgetter) Forget(_ context.Context, ids []string) (func(context.Context) error, error) {
	f.forgotten++
	if f.forgetErr != nil {
		return nil, f.forgetErr
	}
	f.ids = append(f.ids, ids...)
	return func(context.Context) error { f.waited++; return f.wait }, nil
}

// TestForgetAnswers: POST /v1/customers/{id}/forget answers 202 once the
// request is written, 200 with ?wait once confirmed, 504 when not
// confirmed in time, 503 when it cannot be written, 400 for a malformed
// id or wait (nothing sent), and 501 without a forgetter (identity off).
func TestForgetAnswers(t *testing.T) {
	store, procs := emptyStore(t)
	post := func(h *api.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		return rec.Code, rec.Body.String()
	}
	h, err := api.NewHandler(store, procs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(h, "/v1/customers/c1/forget"); code != http.StatusNotImplemented || !strings.Contains(body, "identity.enabled") {
		t.Errorf("no forgetter: %d %s, want 501", code, body)
	}
	f := &fakeForgetter{}
	h.SetForgetter(f)
	for _, tc := range []struct {
		path              string
		forgetErr, wait   error
		code              int
		body              string
		forgotten, waited int
	}{
		{"/v1/customers/c1/forget", nil, nil, http.StatusAccepted, `"status": "requested"`, 1, 0},
		{"/v1/customers/c2/forget?wait=10s", nil, nil, http.StatusOK, `"status": "erased"`, 1, 1},
		{"/v1/customers/c3/forget?wait=10s", nil, context.DeadlineExceeded, http.StatusGatewayTimeout, "not confirmed by every partition within 10s", 1, 1},
		{"/v1/customers/c4/forget", errors.New("broker down"), nil, http.StatusServiceUnavailable, "could not be written; retry", 1, 0},
		{"/v1/customers/c5/forget?wait=1h", nil, nil, http.StatusBadRequest, "wait: want a duration", 0, 0},
		{"/v1/customers/c5/forget?wait=-1s", nil, nil, http.StatusBadRequest, "wait: want a duration", 0, 0},
		{"/v1/customers/a%00b/forget", nil, nil, http.StatusBadRequest, "control characters", 0, 0},
	} {
		*f = fakeForgetter{forgetErr: tc.forgetErr, wait: tc.wait}
		code, body := post(h, tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) || f.forgotten != tc.forgotten || f.waited != tc.waited {
			t.Errorf("POST %s: %d %s (forget called %d, wait %d); want %d with %q (%d, %d)",
				tc.path, code, body, f.forgotten, f.waited, tc.code, tc.body, tc.forgotten, tc.waited)
		}
	}
	if code, _ := post(h, "/v1/customers/c1"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST on the customer: %d, want 405", code)
	}
}

// fakeCluster is a Cluster with fixed answers.
type fakeCluster struct {
	parts int
	local map[int]string // partition -> state, for those this instance owns
	owner string         // the other instances' API address; "" for none
}

func (c fakeCluster) Partition(id string) (int, bool) {
	if c.parts == 0 {
		return 0, false
	}
	return len(id) % c.parts, true
}

func (c fakeCluster) Local(p int) (string, bool) { st, ok := c.local[p]; return st, ok }

func (c fakeCluster) Owner(context.Context, int) (string, error) {
	if c.owner == "" {
		return "", errors.New("no owner")
	}
	return c.owner, nil
}

// TestClusterAnswers: with a Cluster, a customer of a partition another
// instance owns is asked of that instance (with the client's token, a hop
// count and the id as stored) and its answer relayed, requested_id as
// the client asked; while the partition restores, before the instance
// joined, with no owner, an owner that does not answer or a request that
// has hopped too often, 503 with Retry-After.
func TestClusterAnswers(t *testing.T) {
	store, procs := emptyStore(t)
	var asked *http.Request
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = r
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/c-far") {
			_, _ = w.Write([]byte(`{"customer_id":"c-far","requested_id":"c-far","ids":["c-far"],"partition":1,"processors":{},"timers":[],"timeline":[],"triggers":[]}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"no customer with this id"}`))
	}))
	defer other.Close()
	addr := strings.TrimPrefix(other.URL, "http://")
	get := func(c api.Cluster, path string, hdr ...string) *httptest.ResponseRecorder {
		h, err := api.NewHandler(store, procs, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.SetCluster(c, other.Client(), "http")
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// "c-far" (5 bytes) is on partition 1 of 2; this instance owns 0.
	far := fakeCluster{parts: 2, local: map[int]string{0: "ready"}, owner: addr}
	rec := get(far, "/v1/customers/c-far?limit=3")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"requested_id": "c-far"`) {
		t.Errorf("proxied: %d %s", rec.Code, rec.Body.String())
	}
	if asked == nil || asked.Header.Get("Authorization") != "Bearer tok" || asked.Header.Get("X-Journey-Hops") != "1" ||
		asked.Header.Get("X-Journey-Stored-Id") != "1" || asked.URL.RawQuery != "limit=3" {
		t.Errorf("the request the owner got: %+v", asked)
	}
	if rec := get(far, "/v1/customers/x-far"); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no customer") {
		t.Errorf("proxied 404: %d %s", rec.Code, rec.Body.String())
	}
	// c-near (6 bytes) is on partition 0, this instance's: answered here.
	asked = nil
	if rec := get(far, "/v1/customers/c-near"); rec.Code != http.StatusNotFound || asked != nil {
		t.Errorf("a local partition's customer: %d, proxied %v", rec.Code, asked != nil)
	}
	for _, tc := range []struct {
		name string
		c    fakeCluster
		hdr  []string
		msg  string
	}{
		{"restoring", fakeCluster{parts: 2, local: map[int]string{1: "restoring"}, owner: addr}, nil, "partition 1 is restoring"},
		{"not joined", fakeCluster{}, nil, "has not joined"},
		{"no owner", fakeCluster{parts: 2}, nil, "no instance answers for partition 1"},
		{"owner down", fakeCluster{parts: 2, owner: "127.0.0.1:1"}, nil, "did not answer"},
		{"too many hops", far, []string{"X-Journey-Hops", "3"}, "disagree"},
	} {
		rec := get(tc.c, "/v1/customers/c-far", tc.hdr...)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("%s: %d (Retry-After %q) %s; want 503 with %q", tc.name, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String(), tc.msg)
		}
	}
}

// emptyStore opens a state store holding nothing (closed when t ends) and
// builds the default processors.
func emptyStore(t *testing.T) (*state.Store, []journey.Processor) {
	t.Helper()
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	procs, err := processors.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return store, procs
}

// nanProc's state cannot be encoded as JSON (a NaN).
type nanProc struct{}

type nanState struct {
	X float64 `json:"x"`
}

func (nanProc) Name() string                                                      { return "nan" }
func (nanProc) StateVersion() uint32                                              { return 1 }
func (nanProc) NewState() journey.State                                           { return &nanState{} }
func (nanProc) Fold(journey.State, *journey.Event, *journey.Output) (bool, error) { return false, nil }
func (s *nanState) MarshalBinary() ([]byte, error)                                { return []byte{1}, nil }
func (s *nanState) UnmarshalBinary([]byte) error                                  { s.X = math.NaN(); return nil }

// A state that cannot be encoded shows as a note; the customer's other
// states are answered as they are.
func TestUnencodableState(t *testing.T) {
	store, procs := emptyStore(t)
	procs = append(procs, nanProc{})
	p, err := store.Partition(0)
	if err != nil {
		t.Fatal(err)
	}
	b := p.NewBatch()
	b.PutState("c", "nan", 1, []byte{1})
	b.PutState("c", "cart", 99, []byte{1}) // a version this build does not read
	var interest journey.Processor
	for _, pr := range procs {
		if pr.Name() == "interest" {
			interest = pr
		}
	}
	data, err := interest.NewState().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b.PutState("c", "interest", interest.StateVersion(), data)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	h, err := api.NewHandler(store, procs, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/customers/c", nil))
	var got struct {
		Processors map[string]struct {
			State json.RawMessage
			Error string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET c: %d %v\n%s", rec.Code, err, rec.Body)
	}
	if n := got.Processors["nan"]; n.State != nil || !strings.HasPrefix(n.Error, "not shown: json: unsupported value: NaN") {
		t.Errorf("nan: %s %q, want a note", n.State, n.Error)
	}
	if c := got.Processors["cart"]; c.State != nil || !strings.HasPrefix(c.Error, "not decoded: stored as state version 99") {
		t.Errorf("cart: %s %q, want a note", c.State, c.Error)
	}
	if i := got.Processors["interest"]; i.State == nil || i.Error != "" {
		t.Errorf("interest: %s %q, want its state", i.State, i.Error)
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %s for %d bytes", cl, rec.Body.Len())
	}
}
