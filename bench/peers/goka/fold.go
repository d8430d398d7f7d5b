package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// event is the part of a Segment Spec message the fold reads.
type event struct {
	Type      string    `json:"type"`
	Event     string    `json:"event"`
	MessageID string    `json:"messageId"`
	Timestamp time.Time `json:"timestamp"`
	Context   struct {
		Channel string `json:"channel"`
	} `json:"context"`
	Properties struct {
		Category string `json:"category"`
		Products []struct {
			Category string `json:"category"`
		} `json:"products"`
	} `json:"properties"`
}

// kind is what the event is counted as: the track event's name, else the
// message type.
func (e *event) kind() string {
	if e.Type == "track" && e.Event != "" {
		return e.Event
	}
	return e.Type
}

// customer is one customer's state.
type customer struct {
	Events     map[string]int64
	Categories map[string]*category
}

// category is the interest in one product category.
type category struct {
	Views     []int64 // event times of the views counted, Unix ms
	Purchased int64   // latest purchase, Unix ms; 0: none
	Fired     bool
}

// trigger is the record written to the trigger topic.
type trigger struct {
	CustomerID string `json:"customer_id"`
	Category   string `json:"category"`
	Views      int    `json:"views"`
	EventID    string `json:"event_id"` // the view that crossed the threshold
	At         int64  `json:"at"`       // its event time, Unix ms
}

func (c *customer) category(name string) *category {
	if c.Categories == nil {
		c.Categories = map[string]*category{}
	}
	cat := c.Categories[name]
	if cat == nil {
		cat = &category{}
		c.Categories[name] = cat
	}
	return cat
}

// fold applies e to c and returns the trigger it fires, if any. The rules
// are bench/peers/workload's (bench/README.md, "The fold").
func fold(c *customer, key string, e *event, threshold int) (trigger, bool) {
	if c.Events == nil {
		c.Events = map[string]int64{}
	}
	c.Events[e.kind()]++
	if e.Type != "track" {
		return trigger{}, false
	}
	at := e.Timestamp.UnixMilli()
	switch e.Event {
	case "Product Viewed":
		if e.Properties.Category == "" || e.Context.Channel != "web" && e.Context.Channel != "app" {
			return trigger{}, false
		}
		cat := c.category(e.Properties.Category)
		cat.Views = append(cat.Views, at)
		if !cat.Fired && cat.Purchased == 0 && len(cat.Views) >= threshold {
			cat.Fired = true
			return trigger{CustomerID: key, Category: e.Properties.Category, Views: len(cat.Views), EventID: e.MessageID, At: at}, true
		}
	case "Order Completed":
		var seen []string
		for _, p := range e.Properties.Products {
			if p.Category == "" || slices.Contains(seen, p.Category) {
				continue
			}
			seen = append(seen, p.Category)
			cat := c.category(p.Category)
			cat.Views = slices.DeleteFunc(cat.Views, func(t int64) bool { return t <= at })
			cat.Purchased = max(cat.Purchased, at)
			if cat.Fired && len(cat.Views) < threshold {
				cat.Fired = false
			}
		}
	}
	return trigger{}, false
}

// eventCodec decodes input records.
type eventCodec struct{}

func (eventCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }

func (eventCodec) Decode(b []byte) (any, error) {
	e := new(event)
	if err := json.Unmarshal(b, e); err != nil {
		return nil, err
	}
	return e, nil
}

// triggerCodec encodes triggers as JSON.
type triggerCodec struct{}

func (triggerCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }

func (triggerCodec) Decode(b []byte) (any, error) {
	t := new(trigger)
	return t, json.Unmarshal(b, t)
}

// customerCodec encodes the state compactly: uvarint counts and lengths,
// view times as varint deltas.
type customerCodec struct{}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func (customerCodec) Encode(v any) ([]byte, error) {
	c, ok := v.(*customer)
	if !ok {
		return nil, fmt.Errorf("customerCodec: %T", v)
	}
	b := binary.AppendUvarint(make([]byte, 0, 128), uint64(len(c.Events)))
	for name, n := range c.Events {
		b = binary.AppendUvarint(appendString(b, name), uint64(n))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Categories)))
	for name, cat := range c.Categories {
		b = binary.AppendUvarint(appendString(b, name), uint64(len(cat.Views)))
		prev := int64(0)
		for _, t := range cat.Views {
			b = binary.AppendVarint(b, t-prev)
			prev = t
		}
		b = binary.AppendVarint(b, cat.Purchased)
		if cat.Fired {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b, nil
}

var errCorrupt = errors.New("customerCodec: corrupt state")

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errCorrupt, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errCorrupt, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errCorrupt, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.err = errCorrupt
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (customerCodec) Decode(b []byte) (any, error) {
	r := &reader{b: b}
	c := &customer{Events: map[string]int64{}, Categories: map[string]*category{}}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		name := r.string()
		c.Events[name] = int64(r.uvarint())
	}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		name := r.string()
		views := r.uvarint()
		if views > uint64(len(r.b)) { // each view takes a byte at least
			return nil, errCorrupt
		}
		cat := &category{Views: make([]int64, views)}
		prev := int64(0)
		for i := range cat.Views {
			prev += r.varint()
			cat.Views[i] = prev
		}
		cat.Purchased = r.varint()
		cat.Fired = r.byte() == 1
		c.Categories[name] = cat
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = errCorrupt
	}
	return c, r.err
}
