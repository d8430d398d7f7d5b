package ingest

import "fmt"

// Reason classifies why a record was rejected. Its value is stable: it goes
// into the DLQ record's headers and into metric labels.
type Reason string

// Reasons a record is rejected for.
const (
	// ReasonFormat: the value is not JSON, not a JSON object, not a
	// recognisable Segment message or CloudEvent, or holds bad base64.
	ReasonFormat Reason = "format_violation"
	// ReasonSchema: the envelope fails its schema. An event's properties
	// never do: they are brought to their schema (conform.go).
	ReasonSchema Reason = "schema_violation"
	// ReasonID: no messageId (Segment) or id (CloudEvents).
	ReasonID Reason = "id_violation"
	// ReasonKey: no customer key (userId / anonymousId, subject).
	ReasonKey Reason = "key_violation"
	// ReasonSize: the record is larger than Config.MaxBytes.
	ReasonSize Reason = "size_violation"
	// ReasonTime: an unparseable time, or an event time too far in the
	// future or before the Unix epoch.
	ReasonTime Reason = "time_violation"
)

// Reasons returns every Reason, for pre-registering metric labels.
func Reasons() []Reason {
	return []Reason{ReasonFormat, ReasonSchema, ReasonID, ReasonKey, ReasonSize, ReasonTime}
}

// Error is a record the decoder rejected. Such a record is poison: retrying
// it cannot succeed, it goes to the DLQ with Reason in its headers.
type Error struct {
	Reason Reason
	// Msg says what was wrong in terms of field names, JSON pointers and
	// schema keywords. It never holds a value from the record, so it is
	// safe to log.
	Msg string
}

func (e *Error) Error() string { return "ingest: " + string(e.Reason) + ": " + e.Msg }

func errorf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

func newError(r Reason, msg string) *Error { return &Error{Reason: r, Msg: msg} }
