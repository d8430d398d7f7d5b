package ingest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/journey-dev/journey/pkg/journey"
)

// Pseudonymous ids (privacy.pseudonymize_ids; README, "Privacy").
//
// A Pseudonymizer replaces every customer id of an event — the customer,
// userId, anonymousId, previousId; a CloudEvent's subject, userid and
// anonymousid — by its pseudonym: 32 hex digits of HMAC-SHA256 under the
// configured secret. Everything downstream of the decoder (identity
// links, state, timers, the changelog, Redis keys, triggers) then holds
// only pseudonyms, and the same id always gives the same pseudonym, so
// journeys, links and de-duplication work as before. Without the secret a
// pseudonym cannot be computed from a guessed id, nor reversed.
//
// Record rewrites a record's ids in place of its value (or CloudEvents
// headers) before the record is forwarded to another partition, so the
// forward — an outbox entry in Pebble and the changelog, then a record of
// the repartition topic — carries no raw id either. Such a record bears
// HeaderPseudonymized; the pipeline honours it only on the repartition
// topic, where only journey writes.

// HeaderPseudonymized is "1" on a forwarded record whose ids are
// pseudonyms already.
const HeaderPseudonymized = "journey_pseudonymized"

// pseudonymDomain separates pseudonyms from the other HMACs of the same
// secret (the forgotten set's).
const pseudonymDomain = "journey pseudonym\x00"

// Pseudonymizer maps customer ids to pseudonyms. The zero value is not
// usable; a nil *Pseudonymizer maps nothing.
type Pseudonymizer struct {
	secret []byte
}

// NewPseudonymizer returns the Pseudonymizer keyed by secret, which must
// not be empty.
func NewPseudonymizer(secret []byte) (*Pseudonymizer, error) {
	if len(bytes.TrimSpace(secret)) == 0 {
		return nil, errors.New("an empty secret")
	}
	return &Pseudonymizer{secret: bytes.Clone(secret)}, nil
}

// ID returns id's pseudonym ("" stays "").
func (p *Pseudonymizer) ID(id string) string {
	if p == nil || id == "" {
		return id
	}
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte(pseudonymDomain))
	m.Write([]byte(id))
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])[:16])
}

// Event replaces ev's customer ids by their pseudonyms.
func (p *Pseudonymizer) Event(ev *journey.Event) {
	if p == nil {
		return
	}
	ev.CustomerID, ev.UserID = p.ID(ev.CustomerID), p.ID(ev.UserID)
	ev.AnonymousID, ev.PreviousID = p.ID(ev.AnonymousID), p.ID(ev.PreviousID)
}

// idFields are the members and CloudEvents attributes the decoder reads
// customer ids from (Segment: userId, anonymousId, previousId;
// CloudEvents: subject, userid, anonymousid).
var idFields = []string{"userId", "anonymousId", "previousId", "subject", "userid", "anonymousid"}

// Record returns r's value and headers with every customer id replaced by
// its pseudonym, and HeaderPseudonymized added, for a record the decoder
// accepted. Only the id members change: a JSON value is re-encoded with
// its other members' bytes as they were.
func (p *Pseudonymizer) Record(r Record) (value []byte, headers []Header, err error) {
	headers = make([]Header, 0, len(r.Headers)+1)
	binary := false
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, "ce_specversion") {
			binary = true
		}
	}
	if ct, ok := r.header("content-type"); ok && bytes.EqualFold(mediaType(ct), []byte(ceStructuredType)) {
		binary = false
	}
	for _, h := range r.Headers {
		switch {
		case strings.EqualFold(h.Key, HeaderPseudonymized):
			continue
		case binary && isIDHeader(h.Key):
			h.Value = []byte(p.ID(string(h.Value)))
		}
		headers = append(headers, h)
	}
	headers = append(headers, Header{Key: HeaderPseudonymized, Value: []byte("1")})
	if binary {
		return r.Value, headers, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(r.Value, &members); err != nil {
		return nil, nil, err
	}
	for _, f := range idFields {
		raw, ok := members[f]
		if !ok {
			continue
		}
		var id any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&id); err != nil {
			return nil, nil, err
		}
		var s string
		switch v := id.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		default:
			continue // null, or not an id the decoder reads
		}
		if s == "" {
			continue
		}
		if members[f], err = json.Marshal(p.ID(s)); err != nil {
			return nil, nil, err
		}
	}
	value, err = json.Marshal(members)
	return value, headers, err
}

// isIDHeader reports whether a header is a binary CloudEvent's id
// attribute.
func isIDHeader(key string) bool {
	k, ok := strings.CutPrefix(strings.ToLower(key), "ce_")
	return ok && (k == "subject" || k == "userid" || k == "anonymousid")
}
