// Package api is journey's read side: an HTTP API that shows one customer's
// journey as the live state store holds it.
//
//	GET /v1/customers/{id}[?limit=N]
//
// answers 200 with a Customer as JSON: the canonical customer the id
// resolves to (an id the identity table linked to another follows its
// Parent), the ids linked to it, each processor's state (the content
// `journey state get --json` shows), the pending timers, and the timeline
// (processors/timeline) newest first, at most limit entries (default and
// most: all), and the decisions on triggers among them. An id journey
// holds nothing of is 404, a malformed id (empty, over 1024 bytes, not
// UTF-8, or holding control characters) or limit 400; errors are JSON
// {"error": "..."}.
//
// Reads take a Pebble snapshot of the store (state.Snapshot): what the
// worker committed, read without any lock it waits on. The API answers
// for the partitions this instance's store holds: with one instance, for
// every customer. It does not proxy to other instances.
//
// A web page at / (and /customers/{id}, opened on that customer) shows
// the same as a person reads it: the timeline by channel lane, interests,
// engagement tier, open carts, consent, timers; each trigger's "why" link
// highlights its causing events. It is embedded (go:embed), loads nothing
// from anywhere else, and asks the API with the token typed in.
//
// schemas/api/openapi.json is the OpenAPI 3.1 description; the rig test
// validates real responses against it.
//
// Requests are counted and timed by route and status code
// (journey_api_requests_total, journey_api_request_seconds).
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/pkg/ingest"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors/timeline"
)

// MaxIDLen bounds a customer id in a request.
const MaxIDLen = 1024

// maxHops bounds how many Parent links an id is followed through.
const maxHops = 8

// Customer is the answer of GET /v1/customers/{id}.
type Customer struct {
	// CustomerID is the canonical customer the id resolves to.
	CustomerID string `json:"customer_id"`
	// RequestedID is the id asked for.
	RequestedID string `json:"requested_id"`
	// IDs are the ids linked to the customer (its own first).
	IDs       []string `json:"ids"`
	Partition int      `json:"partition"`
	// Processors are the customer's states, by processor name.
	Processors map[string]StateJSON `json:"processors"`
	Timers     []TimerJSON          `json:"timers"`
	// Timeline is newest first.
	Timeline []timeline.Entry `json:"timeline"`
	// Triggers are the timeline's decisions on triggers, newest first.
	Triggers []timeline.Entry `json:"triggers"`
}

// StateJSON is one processor's state, as `journey state get --json`
// shows it: State is the decoded state (encoded as json.Marshal encodes
// it), nil when Error says why it could not be decoded.
type StateJSON struct {
	Version uint32 `json:"version"`
	State   any    `json:"state,omitempty"`
	Error   string `json:"error,omitempty"`
}

// TimerJSON is one pending timer.
type TimerJSON struct {
	At        time.Time `json:"at"`
	Processor string    `json:"processor"`
	Key       string    `json:"key"`
}

// Handler serves the API.
type Handler struct {
	store  *state.Store
	procs  []journey.Processor
	mux    *http.ServeMux
	forgot Forgetter // nil: forget answers 501
	pseudo *ingest.Pseudonymizer

	// cluster, when set, routes requests to the instance owning the
	// customer (cluster.go).
	cluster     Cluster
	proxyClient *http.Client
	scheme      string

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewHandler returns the API over store, whose states procs decode (the
// engine's processors). Its metrics are registered with reg (nil: none).
func NewHandler(store *state.Store, procs []journey.Processor, reg prometheus.Registerer) (*Handler, error) {
	h := &Handler{
		store: store, procs: procs, mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "journey", Subsystem: "api", Name: "requests_total",
			Help: "API requests answered, by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "journey", Subsystem: "api", Name: "request_seconds",
			Help:    "API request latency, by route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}, []string{"route", "code"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{h.requests, h.latency} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("api: metrics: %w", err)
			}
		}
	}
	h.route("GET /v1/customers/{id}", h.customer)
	h.route("POST /v1/customers/{id}/forget", h.forget)
	h.route("GET /customers/{id}", page)
	h.route("GET /", page)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// route serves pattern with fn, counted and timed under pattern.
func (h *Handler) route(pattern string, fn func(w http.ResponseWriter, r *http.Request) int) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := strconv.Itoa(fn(w, r))
		h.requests.WithLabelValues(pattern, code).Inc()
		h.latency.WithLabelValues(pattern, code).Observe(time.Since(start).Seconds())
	})
}

func (h *Handler) customer(w http.ResponseWriter, r *http.Request) int {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return writeError(w, http.StatusBadRequest, err.Error())
	}
	limit := -1
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return writeError(w, http.StatusBadRequest, "limit: want a whole number >= 0")
		}
		limit = n
	}
	stored := id
	if r.Header.Get(headerStored) != "1" {
		stored = h.stored(id)
	}
	if h.cluster != nil {
		if code, done := h.routeCustomer(w, r, id, stored); done {
			return code
		}
	}
	c, err := h.Customer(stored, limit)
	if canonical, ok := isElsewhere(err); ok {
		p, _ := h.cluster.Partition(canonical)
		return h.proxy(w, r, id, canonical, p)
	}
	if errors.Is(err, ErrNotFound) && h.pseudo != nil && stored != id {
		c, err = h.Customer(id, limit) // a pseudonym, as triggers carry it
	}
	if c != nil {
		c.RequestedID = id
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return writeError(w, http.StatusNotFound, "no customer with this id")
	case err != nil:
		return writeError(w, http.StatusInternalServerError, "reading the state failed")
	}
	return writeJSON(w, http.StatusOK, c)
}

// Forgetter sends erase requests (journey forget) and waits for them.
type Forgetter interface {
	// Forget asks the owning partitions to erase ids; it returns once the
	// requests are written, with wait, which returns once the owners have
	// erased them (and every id linked to them).
	Forget(ctx context.Context, ids []string) (wait func(context.Context) error, err error)
}

// SetPseudonyms makes the API take real ids and look up their pseudonyms
// (privacy.pseudonymize_ids); a pseudonym itself is accepted too.
func (h *Handler) SetPseudonyms(ps *ingest.Pseudonymizer) { h.pseudo = ps }

// stored is the id under which the store keeps the customer a request
// names: its pseudonym when pseudonyms are on.
func (h *Handler) stored(id string) string { return h.pseudo.ID(id) }

// SetForgetter enables POST /v1/customers/{id}/forget (before serving).
func (h *Handler) SetForgetter(f Forgetter) { h.forgot = f }

// MaxForgetWait bounds a forget request's ?wait.
const MaxForgetWait = 5 * time.Minute

// Forgotten is the answer to a forget request.
type Forgotten struct {
	RequestedID string `json:"requested_id"`
	// Status is "requested" (written; the erase follows in the owning
	// partition's next round) or "erased" (?wait: committed by every
	// partition).
	Status string `json:"status"`
}

// forget is POST /v1/customers/{id}/forget[?wait=30s]: journey forget.
func (h *Handler) forget(w http.ResponseWriter, r *http.Request) int {
	id := r.PathValue("id")
	if err := checkID(id); err != nil {
		return writeError(w, http.StatusBadRequest, err.Error())
	}
	var wait time.Duration
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > MaxForgetWait {
			return writeError(w, http.StatusBadRequest, fmt.Sprintf("wait: want a duration such as 30s, at most %v", MaxForgetWait))
		}
		wait = d
	}
	if h.forgot == nil {
		return writeError(w, http.StatusNotImplemented, "forget needs identity routing (identity.enabled)")
	}
	waitErased, err := h.forgot.Forget(r.Context(), []string{h.stored(id)})
	if err != nil {
		return writeError(w, http.StatusServiceUnavailable, "the forget request could not be written; retry")
	}
	if wait == 0 {
		return writeJSON(w, http.StatusAccepted, Forgotten{RequestedID: id, Status: "requested"})
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if err := waitErased(ctx); err != nil {
		return writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("requested; not confirmed by every partition within %v", wait))
	}
	return writeJSON(w, http.StatusOK, Forgotten{RequestedID: id, Status: "erased"})
}

// checkID reports why id is not a customer id a request may ask for.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty customer id")
	case len(id) > MaxIDLen:
		return fmt.Errorf("customer id longer than %d bytes", MaxIDLen)
	case !utf8.ValidString(id):
		return errors.New("customer id is not UTF-8")
	case slices.ContainsFunc([]rune(id), unicode.IsControl):
		return errors.New("customer id holds control characters")
	}
	return nil
}

// writeJSON answers code with v, indented. A Customer whose states cannot
// all be encoded is answered with a note in place of each that cannot
// (Customer.encodeEach).
func writeJSON(w http.ResponseWriter, code int, v any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // compact, then appendIndented
	if err := enc.Encode(v); err != nil {
		c, ok := v.(*Customer)
		if !ok {
			return writeError(w, http.StatusInternalServerError, "encoding the answer failed")
		}
		c.encodeEach()
		buf.Reset()
		if err := enc.Encode(c); err != nil {
			return writeError(w, http.StatusInternalServerError, "encoding the answer failed")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	out := appendIndented(make([]byte, 0, 2*buf.Len()), buf.Bytes()) // ends with Encode's newline
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(code)
	_, _ = w.Write(out)
	return code
}

func writeError(w http.ResponseWriter, code int, msg string) int {
	return writeJSON(w, code, map[string]string{"error": msg})
}
