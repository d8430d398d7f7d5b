// Package memsink is an in-memory sink.Sink for unit tests of the pipeline:
// the outbox dispatcher, replays, `journey forget`. It keeps the same
// observable contract as redissink (it passes sinktest) without a server:
// one ordered stream per channel, each trigger id delivered at most once,
// one field map per customer.
//
// Payloads are stored as their JSON encoding and decoded on read, so a test
// sees what a downstream service would see (numbers come back as float64)
// and a payload that is not JSON fails here as it would in production.
//
// SetError makes Deliver fail, to test how callers hold and retry batches
// while the store is down.
package memsink

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/sink"
)

// Sink is an in-memory sink.Sink and sinktest.Inspector. The zero value is
// not usable; call New. It is safe for concurrent use.
type Sink struct {
	st *store
}

// store is what a restarted process would find again: Reopen shares it.
type store struct {
	mu       sync.Mutex
	seen     map[string]struct{}
	streams  map[string][]entry
	contexts map[string]map[string]string
	err      error
	delivers int
}

// entry is a trigger as stored: payload and causes as JSON, like the
// Redis stream entry.
type entry struct {
	t       journey.Trigger
	causes  []byte
	payload []byte
}

// New returns an empty in-memory sink.
func New() *Sink {
	return &Sink{st: &store{
		seen:     make(map[string]struct{}),
		streams:  make(map[string][]entry),
		contexts: make(map[string]map[string]string),
	}}
}

// Reopen returns a new Sink over the same stored data, as a restarted
// process would build against the same Redis.
func (s *Sink) Reopen() *Sink { return &Sink{st: s.st} }

// SetError makes every following Deliver return err, delivering nothing,
// until SetError(nil). Wrap sink.ErrRetriable in err to simulate an outage.
func (s *Sink) SetError(err error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.err = err
}

// Delivers reports how many Deliver calls reached the store, failed or not
// (calls rejected for a done ctx or an invalid batch are not counted).
func (s *Sink) Delivers() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.delivers
}

// Deliver implements sink.Sink. The whole batch is applied atomically.
func (s *Sink) Deliver(ctx context.Context, b sink.Batch) error {
	if err := sink.CtxErr(ctx); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	entries := make([]entry, len(b.Triggers))
	for i, t := range b.Triggers {
		e, err := encode(t)
		if err != nil {
			return fmt.Errorf("memsink: trigger %d (id %q): %w", i, t.ID, err)
		}
		entries[i] = e
	}

	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.delivers++
	if st.err != nil {
		return st.err
	}
	for _, e := range entries {
		if _, dup := st.seen[e.t.ID]; dup {
			continue
		}
		st.seen[e.t.ID] = struct{}{}
		st.streams[e.t.Channel] = append(st.streams[e.t.Channel], e)
	}
	for _, c := range b.Contexts {
		if c.Delete || c.Forget {
			delete(st.contexts, c.CustomerID)
			continue
		}
		if len(c.Fields) == 0 {
			continue
		}
		h := st.contexts[c.CustomerID]
		if h == nil {
			h = make(map[string]string, len(c.Fields))
			st.contexts[c.CustomerID] = h
		}
		for k, v := range c.Fields {
			h[k] = v
		}
	}
	return nil
}

// Triggers returns the triggers delivered to channel, in stream order.
// Each is a copy; At is in UTC, Payload decoded from JSON.
func (s *Sink) Triggers(_ context.Context, channel string) ([]journey.Trigger, error) {
	s.st.mu.Lock()
	stream := slices.Clone(s.st.streams[channel])
	s.st.mu.Unlock()
	out := make([]journey.Trigger, 0, len(stream))
	for _, e := range stream {
		t, err := decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Context returns a copy of the customer's context fields; empty when the
// customer has none.
func (s *Sink) Context(_ context.Context, customerID string) (map[string]string, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	out := make(map[string]string, len(s.st.contexts[customerID]))
	for k, v := range s.st.contexts[customerID] {
		out[k] = v
	}
	return out, nil
}

func encode(t journey.Trigger) (entry, error) {
	causes := t.Causes
	if causes == nil {
		causes = []string{}
	}
	cb, err := json.Marshal(causes)
	if err != nil {
		return entry{}, fmt.Errorf("%w: causes: %v", sink.ErrInvalid, err)
	}
	pb := slices.Clone(t.PayloadJSON)
	if pb == nil {
		payload := t.Payload
		if payload == nil {
			payload = map[string]any{}
		}
		if pb, err = json.Marshal(payload); err != nil {
			return entry{}, fmt.Errorf("%w: payload: %v", sink.ErrInvalid, err)
		}
	}
	t.At = t.At.UTC()
	t.Causes, t.Payload, t.PayloadJSON = nil, nil, nil
	return entry{t: t, causes: cb, payload: pb}, nil
}

func decode(e entry) (journey.Trigger, error) {
	t := e.t
	if err := json.Unmarshal(e.causes, &t.Causes); err != nil {
		return t, fmt.Errorf("memsink: trigger %q: causes: %w", t.ID, err)
	}
	if err := json.Unmarshal(e.payload, &t.Payload); err != nil {
		return t, fmt.Errorf("memsink: trigger %q: payload: %w", t.ID, err)
	}
	return t, nil
}
