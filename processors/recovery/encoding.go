package recovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/journey-dev/journey/processors/internal/wire"
)

// ErrCorrupt is wrapped by UnmarshalBinary errors: the bytes are not a
// state this version wrote.
var ErrCorrupt = errors.New("recovery: corrupt state")

// validTime reports whether t is between 1970 and 2200: every time in the
// state is then a whole number of nanoseconds since 1970 that fits an
// int64, and so is every difference between two of them.
func validTime(t time.Time) bool { return wire.InNanoRange(t) }

// Flags of the encoding.
const (
	flagTriggered = 1
	flagFloor     = 2
	// reported is or'ed into a signal's reason byte.
	reported = 0x80
)

func (s *State) empty() bool {
	return s.Latest.IsZero() && s.Triggered.IsZero() && s.Floor.IsZero() && len(s.Signals) == 0 && len(s.Contacts) == 0
}

// hasScore and hasScale say which reasons carry a score and a scale.
func hasScore(reason string) bool { return reason == ReasonLowRating || reason == ReasonLowSurveyScore }
func hasScale(reason string) bool { return reason == ReasonLowSurveyScore }

// MarshalBinary implements journey.State. The empty state is zero bytes;
// any other is
//
//	uvarint  Latest, nanoseconds since 1970
//	byte     flags: 1 Triggered is set, 2 Floor is set
//	uvarint  Latest - Triggered, when set
//	uvarint  Latest - Floor, when set
//	uvarint  number of signals
//	per signal, in order:
//	  uvarint  Latest - At
//	  byte     reason code (1 low_survey_score, 2 complaint, 3 low_rating,
//	           4 failed_contacts, 5 spam_report), | 0x80 when reported
//	  float    Score, for low_rating and low_survey_score
//	  float    Scale, for low_survey_score
//	  uvarint  number of events
//	  per event: string event id, string ref
//	uvarint  number of contacts
//	per contact, in order: uvarint Latest - At, string event id, string contact id
//
// where durations are in nanoseconds, a string is a uvarint length and the
// bytes, and a float is the uvarint of its IEEE 754 bits byte-reversed (so
// small whole numbers take 2 bytes). The encoding is canonical: equal
// states encode to equal bytes.
func (s *State) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// AppendBinary implements encoding.BinaryAppender: it appends the encoding
// MarshalBinary returns to b (the pipeline reuses one buffer).
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if s.empty() {
		return b, nil
	}
	if !validTime(s.Latest) {
		return nil, fmt.Errorf("recovery: Latest %v is out of range", s.Latest)
	}
	b = slices.Grow(b, s.sizeHint())
	b = wire.AppendNanoTime(b, s.Latest)
	var flags byte
	if !s.Triggered.IsZero() {
		flags |= flagTriggered
	}
	if !s.Floor.IsZero() {
		flags |= flagFloor
	}
	b = append(b, flags)
	var err error
	for _, t := range []time.Time{s.Triggered, s.Floor} {
		if !t.IsZero() {
			if b, err = s.appendAge(b, t); err != nil {
				return nil, fmt.Errorf("recovery: %w", err)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Signals)))
	for i := range s.Signals {
		if b, err = s.appendSignal(b, i); err != nil {
			return nil, fmt.Errorf("recovery: signal %d: %w", i, err)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Contacts)))
	for i := range s.Contacts {
		c := &s.Contacts[i]
		if c.EventID == "" || len(c.EventID) > maxKeyLen || len(c.ContactID) > maxRefLen {
			return nil, fmt.Errorf("recovery: contact %d: bad event or contact id", i)
		}
		if i > 0 && compareContacts(&s.Contacts[i-1], c) >= 0 {
			return nil, fmt.Errorf("recovery: contact %d: not in order", i)
		}
		if b, err = s.appendAge(b, c.At); err != nil {
			return nil, fmt.Errorf("recovery: contact %d: %w", i, err)
		}
		b = wire.AppendString(b, c.EventID)
		b = wire.AppendString(b, c.ContactID)
	}
	return b, nil
}

// sizeHint is about the size of s's encoding.
func (s *State) sizeHint() int {
	size := 24
	for i := range s.Signals {
		size += 24
		for j := range s.Signals[i].EventIDs {
			size += 2 + len(s.Signals[i].EventIDs[j]) + len(s.Signals[i].Refs[j])
		}
	}
	for i := range s.Contacts {
		size += 10 + len(s.Contacts[i].EventID) + len(s.Contacts[i].ContactID)
	}
	return size
}

// appendSignal appends Signals[i], checking it can be encoded canonically
// and follows Signals[i-1].
func (s *State) appendSignal(b []byte, i int) ([]byte, error) {
	x := &s.Signals[i]
	if err := x.check(); err != nil {
		return nil, err
	}
	if i > 0 && compareSignals(&s.Signals[i-1], x) >= 0 {
		return nil, errors.New("not in order")
	}
	b, err := s.appendAge(b, x.At)
	if err != nil {
		return nil, err
	}
	code := reasonCode(x.Reason)
	if x.Reported {
		code |= reported
	}
	b = append(b, code)
	if hasScore(x.Reason) {
		b = appendFloat(b, x.Score)
	}
	if hasScale(x.Reason) {
		b = appendFloat(b, x.Scale)
	}
	b = binary.AppendUvarint(b, uint64(len(x.EventIDs)))
	for j := range x.EventIDs {
		b = wire.AppendString(b, x.EventIDs[j])
		b = wire.AppendString(b, x.Refs[j])
	}
	return b, nil
}

// check reports what MarshalBinary cannot encode canonically in x.
func (x *Signal) check() error {
	code := reasonCode(x.Reason)
	n := len(x.EventIDs)
	switch {
	case code == 0:
		return fmt.Errorf("unknown reason %q", x.Reason)
	case n == 0 || n != len(x.Refs) || n > maxFailedContacts || n > 1 && x.Reason != ReasonFailedContacts:
		return fmt.Errorf("%d event ids and %d refs", n, len(x.Refs))
	case !hasScore(x.Reason) && x.Score != 0 || !hasScale(x.Reason) && x.Scale != 0:
		return errors.New("a score or scale its reason does not carry")
	case !validFloat(x.Score) || !validFloat(x.Scale):
		return errors.New("score or scale not a finite number >= 0")
	}
	for j := range x.EventIDs {
		if x.EventIDs[j] == "" || len(x.EventIDs[j]) > maxKeyLen || len(x.Refs[j]) > maxRefLen {
			return fmt.Errorf("event %d: bad event id or ref", j)
		}
	}
	return nil
}

// validFloat reports whether f is finite and >= 0 (not -0).
func validFloat(f float64) bool { return finite(f) && f >= 0 && !math.Signbit(f) }

// appendAge appends Latest - t in nanoseconds.
func (s *State) appendAge(b []byte, t time.Time) ([]byte, error) {
	b, ok := wire.AppendAge(b, s.Latest, t, wire.Epoch)
	if !ok {
		return nil, fmt.Errorf("time %v is after Latest or before 1970", t)
	}
	return b, nil
}

func appendFloat(b []byte, f float64) []byte {
	return binary.AppendUvarint(b, bits.ReverseBytes64(math.Float64bits(f)))
}

// UnmarshalBinary implements journey.State: it replaces s by the state
// data encodes (see MarshalBinary). Errors wrap ErrCorrupt. s keeps no
// reference to data: its strings share one copy of it, and the event ids
// and refs of all its signals one array, so decoding allocates a few
// times whatever the state's size.
func (s *State) UnmarshalBinary(data []byte) error {
	*s = State{}
	if len(data) == 0 {
		return nil
	}
	r := wire.NewReader(data, ErrCorrupt)
	var d State
	d.Latest = r.NanoTime()
	flags := r.Byte()
	if r.Err() == nil && flags&^3 != 0 {
		r.Fail("unknown flags")
	}
	if flags&flagTriggered != 0 {
		d.Triggered = r.Age(d.Latest, wire.Epoch)
	}
	if flags&flagFloor != 0 {
		d.Floor = r.Age(d.Latest, wire.Epoch)
	}
	d.readSignals(&r)
	d.readContacts(&r)
	if err := r.Finish(); err != nil {
		return err
	}
	*s = d
	return nil
}

// readSignals reads the signals of s, whose Latest is read. Their event
// ids and refs share one array: decoding allocates a few times whatever
// the number of signals.
func (s *State) readSignals(r *wire.Reader) {
	n := r.Uvarint()
	if r.Err() == nil && (n > maxMaxSignals || n*5 > uint64(r.Remaining())) {
		r.Fail("too many signals")
	}
	var arena []string // the event ids and refs of every signal
	if r.Err() == nil && n > 0 {
		s.Signals = make([]Signal, n)
		arena = make([]string, 0, 2*n)
	}
	for i := range s.Signals {
		x := &s.Signals[i]
		x.At = r.Age(s.Latest, wire.Epoch)
		code := r.Byte()
		x.Reported = code&reported != 0
		if c := int(code &^ reported); c > 0 && c < len(reasons) {
			x.Reason = reasons[c]
		} else if r.Err() == nil {
			r.Fail("unknown reason")
		}
		if hasScore(x.Reason) {
			x.Score = readFloat(r)
		}
		if hasScale(x.Reason) {
			x.Scale = readFloat(r)
		}
		m := r.Uvarint()
		if r.Err() == nil && (m == 0 || m > maxFailedContacts || m*2 > uint64(r.Remaining())) {
			r.Fail("bad number of events")
		}
		if r.Err() != nil {
			return
		}
		// Growing arena may move it: the signals decoded so far keep
		// the array they were cut from, which stays valid.
		k, mm := len(arena), int(m)
		arena = slices.Grow(arena, 2*mm)[:k+2*mm]
		x.EventIDs = arena[k : k+mm : k+mm]
		x.Refs = arena[k+mm : k+2*mm : k+2*mm]
		for j := range mm {
			x.EventIDs[j], x.Refs[j] = r.Str(), r.Str()
		}
		switch {
		case r.Err() != nil:
		case x.check() != nil:
			r.Fail("bad signal: " + x.check().Error())
		case i > 0 && compareSignals(&s.Signals[i-1], x) >= 0:
			r.Fail("signals not in order")
		}
	}
}

// readContacts reads the contacts of s, whose Latest is read.
func (s *State) readContacts(r *wire.Reader) {
	n := r.Uvarint()
	if r.Err() == nil && (n > maxFailedContacts || n*3 > uint64(r.Remaining())) {
		r.Fail("too many contacts")
	}
	if r.Err() == nil && n > 0 {
		s.Contacts = make([]Contact, n)
	}
	for i := range s.Contacts {
		c := &s.Contacts[i]
		c.At = r.Age(s.Latest, wire.Epoch)
		c.EventID, c.ContactID = r.Str(), r.Str()
		switch {
		case r.Err() != nil:
		case c.EventID == "" || len(c.EventID) > maxKeyLen || len(c.ContactID) > maxRefLen:
			r.Fail("bad contact")
		case i > 0 && compareContacts(&s.Contacts[i-1], c) >= 0:
			r.Fail("contacts not in order")
		}
	}
}

// readFloat reads what appendFloat appends, failing unless it is finite
// and >= 0.
func readFloat(r *wire.Reader) float64 {
	f := math.Float64frombits(bits.ReverseBytes64(r.Uvarint()))
	if r.Err() == nil && !validFloat(f) {
		r.Fail("float not finite and >= 0")
	}
	if r.Err() != nil {
		return 0
	}
	return f
}
