package recovery

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Config configures the processor. It is the "recovery" section of the
// YAML configuration; DefaultConfig gives every field a value.
type Config struct {
	// Target is the channel recovery triggers are sent to.
	Target string `yaml:"target"`
	// Signals are the negative signals that count, by reason code:
	// low_survey_score, complaint, low_rating, failed_contacts,
	// spam_report.
	Signals []string `yaml:"signals"`
	// LowSurveyScore and SurveyScale say which surveys are negative: a
	// score is low when score/scale <= LowSurveyScore/SurveyScale, scale
	// being the event's "scale" or, when it has none, SurveyScale. The
	// default, 6 on 10, makes NPS detractors (0-6) negative, and 3 on 5.
	LowSurveyScore float64 `yaml:"low_survey_score"`
	SurveyScale    float64 `yaml:"survey_scale"`
	// LowRating is the highest Product Reviewed rating (1-5) that is
	// negative.
	LowRating float64 `yaml:"low_rating"`
	// FailedContacts failed or abandoned contacts within
	// FailedContactsWindow (from the first to the last) make one signal.
	FailedContacts       int           `yaml:"failed_contacts"`
	FailedContactsWindow time.Duration `yaml:"failed_contacts_window"`
	// Debounce is the least time between two triggers: signals within it
	// after a trigger are kept and reported by the next one. 0 makes every
	// signal trigger.
	Debounce time.Duration `yaml:"debounce"`
	// History is how long signals are kept: for the context, and for a
	// trigger to report signals that came within a debounce. At least
	// Debounce.
	History time.Duration `yaml:"history"`
	// MaxSignals bounds the signals kept, the oldest going first.
	MaxSignals int `yaml:"max_signals"`
}

// Bounds of the fields: they bound the state of one customer.
const (
	maxMaxSignals     = 100
	maxFailedContacts = 20
	maxTargetLen      = 64
)

// DefaultConfig returns the defaults: every signal; a survey score of 6 or
// less on 10; a rating of 2 or less; 3 failed or abandoned contacts within
// 72 hours; at most one trigger a day, to the call centre; 30 days and 10
// signals of history.
func DefaultConfig() Config {
	return Config{
		Target:               "call_centre",
		Signals:              slices.Clone(reasons[1:]),
		LowSurveyScore:       6,
		SurveyScale:          10,
		LowRating:            2,
		FailedContacts:       3,
		FailedContactsWindow: 72 * time.Hour,
		Debounce:             24 * time.Hour,
		History:              30 * 24 * time.Hour,
		MaxSignals:           10,
	}
}

func (c Config) clone() Config {
	c.Signals = slices.Clone(c.Signals)
	return c
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Validate reports every invalid field, each error naming its field as it
// is written in YAML ("recovery.low_rating: must be >= 1 and < 5, got 5").
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", Name, field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.Target == "":
		bad("target", "must name a channel")
	case len(c.Target) > maxTargetLen:
		bad("target", "must be at most %d bytes", maxTargetLen)
	}
	if len(c.Signals) == 0 {
		bad("signals", "must name at least one signal (%s)", strings.Join(reasons[1:], ", "))
	}
	for i, sig := range c.Signals {
		switch {
		case reasonCode(sig) == 0:
			bad("signals", "unknown signal %q (known: %s)", sig, strings.Join(reasons[1:], ", "))
		case slices.Index(c.Signals, sig) < i:
			bad("signals", "%q is listed twice", sig)
		}
	}
	if !finite(c.SurveyScale) || c.SurveyScale <= 0 {
		bad("survey_scale", "must be > 0, got %v", c.SurveyScale)
	}
	if !finite(c.LowSurveyScore) || c.LowSurveyScore < 0 || finite(c.SurveyScale) && c.LowSurveyScore >= c.SurveyScale {
		bad("low_survey_score", "must be >= 0 and < survey_scale (%v), got %v", c.SurveyScale, c.LowSurveyScore)
	}
	if !finite(c.LowRating) || c.LowRating < 1 || c.LowRating >= 5 {
		bad("low_rating", "must be >= 1 and < 5, got %v", c.LowRating)
	}
	if c.FailedContacts < 1 || c.FailedContacts > maxFailedContacts {
		bad("failed_contacts", "must be between 1 and %d, got %d", maxFailedContacts, c.FailedContacts)
	}
	if c.FailedContactsWindow <= 0 {
		bad("failed_contacts_window", "must be > 0, got %s", c.FailedContactsWindow)
	}
	if c.Debounce < 0 {
		bad("debounce", "must be >= 0, got %s", c.Debounce)
	}
	switch {
	case c.History <= 0:
		bad("history", "must be > 0, got %s", c.History)
	case c.History < c.Debounce:
		bad("history", "must be >= debounce (%s), got %s: signals within a debounce would be forgotten before a trigger reports them", c.Debounce, c.History)
	}
	if c.MaxSignals < 1 || c.MaxSignals > maxMaxSignals {
		bad("max_signals", "must be between 1 and %d, got %d", maxMaxSignals, c.MaxSignals)
	}
	return errors.Join(errs...)
}
