// Package processortest runs journey processors over golden files: event
// sequences written by hand and the triggers, timers, state and context
// the processors produced for them, regenerated with -update.
//
// Folds go through a journey.Runner with a journey.MemTimers, exactly as
// the pipeline drives them: before each event the watermark moves to the
// event's time minus the allowed lateness and every timer due by then
// fires, in journey.Compare order; then the event is folded through every
// processor, and the triggers they emit pass the contact policy, if one of
// the processors is a journey.Policy. A golden file therefore pins the
// order the pipeline produces.
//
// # Golden files
//
// Run folds every dir/*.txt file through one processor, RunEngine through
// several (a processor and the contact policy, say), one sub-test per file.
// A file is an input section, a line holding exactly "----", and the
// expected output:
//
//	# The cart is abandoned an hour after the last add.
//	{"lateness":"0s"}
//	{"id":"a1","name":"Product Added","customer":"c1","time":"2026-11-01T10:00:00Z","props":{"cart_id":"k1","product_id":"p1"}}
//	{"advance":"2026-11-01T11:00:00Z"}
//	----
//	a1
//	  set timer cart/cart:k1 @2026-11-01T11:00:00Z
//	advance 2026-11-01T11:00:00Z
//	timer cart/cart:k1 @2026-11-01T11:00:00Z customer c1
//	  trigger cart.abandoned -> email
//	    id       5d0c…
//	    ...
//
//	customer c1
//	  context
//	    cart.open = [...]
//	  state
//	    {...}
//
//	pending timers (watermark 2026-11-01T11:00:00Z)
//	  none
//
// The input section holds one JSON object per line; blank lines and lines
// starting with # (comments) are ignored. A line is one of:
//
//   - a settings line, before any event or advance, with either or both of
//     "lateness", a Go duration >= 0 subtracted from event times to get the
//     watermark (default 0s), and "late", what happens to an event older
//     than the watermark: "fold" it without re-firing timers (the default)
//     or "drop" it (the dead-letter policy; journey.Runner.DropLate);
//   - an advance directive, {"advance":"<RFC 3339 time>"}: the watermark
//     moves there (never back) and every timer due by then fires, as an
//     idle partition's clock or the end of a replay does;
//   - a merge directive, {"merge":"<from>","into":"<into>","time":"<RFC 3339
//     time>"}: customer from's journey moves into customer into's, as the
//     pipeline does when an id that has state is linked to another (see
//     journey.Merger): from's states are taken (from then has no state,
//     and is not listed at the end unless an event names it again), its
//     armed timers are disarmed, and journey.Runner.Merge re-arms them
//     under into (unless into has a timer of the same processor and key),
//     merges the states as of time (the contact policy's first) and passes
//     the triggers the merges emit through the policy. The watermark does
//     not move: put an advance directive first if timers should fire;
//   - an event: any other line.
//
// Event fields, all optional except time and a customer:
//
//	id            Event.ID
//	kind          Event.Kind: track (the default), identify, page, screen, alias, group, cloudevent
//	name          Event.Name
//	customer      Event.CustomerID; defaults to user_id, else anonymous_id
//	user_id       Event.UserID
//	anonymous_id  Event.AnonymousID
//	previous_id   Event.PreviousID
//	channel       Event.Channel
//	time          Event.Time, RFC 3339 (converted to UTC)
//	timezone      Event.TimeZone
//	consent       Event.Consent, an object of channel -> bool
//	props         Event.Properties; numbers decode as float64, as from ingest
//	traits        Event.Traits
//	record_time   Event.Source.Time, the Kafka record time, RFC 3339 (UTC)
//
// Unknown fields are an error, so a typo cannot silently drop a property.
//
// The output section is generated, in the order things happened:
//
//   - one line per event, named by its id (or #n, its position, when it has
//     none), flagged "(late)" when it was older than the watermark,
//     "(dropped)" when the late policy dropped it, and "(no change)" when no
//     processor reported a change; then, indented under it, the triggers
//     admitted ("trigger <rule> -> <channel>" and its fields), the triggers
//     the contact policy suppressed ("suppressed <rule> -> <channel>:
//     <reason>"), and the timers its fold set ("set timer
//     <processor>/<key> @<time>") or cancelled ("cancel timer
//     <processor>/<key>"), and the processors that ignored it for lacking
//     what they need ("ignored by <processor>: <reason>", as
//     journey_events_ignored_total counts it);
//   - one line per fired timer, "timer <processor>/<key> @<time> customer
//     <customer>", flagged "(no change)" like an event, with what its
//     OnTimer produced under it, the same way. Timers an event's time makes
//     due fire before that event is folded, so their lines come before the
//     event's line;
//   - one line per advance directive, "advance <time>", followed by the
//     timers it fired;
//   - one line per merge directive, "merge <from> into <into> @<time>",
//     flagged "(no change)" like an event, with the triggers, suppressions
//     and timer changes of the merge under it. The re-arming of from's
//     timers under into is not listed (it is no processor's request); the
//     pending timers at the end show it.
//
// After the steps, each customer in order of first event: the merged
// Context fields when a processor is a journey.ContextSource ("name =
// value", sorted by name, with no trailing space after an empty value),
// then each
// processor's final state as JSON (json.Marshal of the State value, so
// states need exported, JSON-friendly fields or a MarshalJSON method),
// indented, with objects and arrays that hold only scalars kept on one
// line. The state is headed "state" when there is one processor, "state
// <name>" for each when there are several. Last, when a processor handles
// timers, the final watermark and the timers still armed, in firing order
// ("none" when there are none).
//
// # Updating
//
// go test ./processors/... -update rewrites the output section of every
// golden file from what the code produced, keeping the input section as it
// is. A file without a "----" line gets one. Review the diff before
// committing it. Every test binary under processors/ must define the flag,
// so every test package there imports this package (a blank import will
// do).
//
// # Checks
//
// Besides comparing the output, a file fails when:
//
//   - after any fold or fired timer, a state of its customer, encoded with
//     MarshalBinary then decoded into NewState(), gives a state whose JSON
//     differs, or whose encoding is not byte for byte the same (encodings
//     must be canonical);
//   - Fold or OnTimer (or a policy's Admit) reported no change but the
//     encoded state changed: the pipeline would not store the change;
//   - the output differs when the file is played again (determinism); when
//     the states are committed after every step — encoded, the runner's
//     cache reset, the states decoded again when next needed, as the
//     pipeline does after each commit (encoding loss, unreported changes);
//     or when the file is cut into random batches committed that way (the
//     batching must not change anything, with the timers and the watermark
//     carried over as the state store carries them);
//   - a trigger (admitted or suppressed) lacks an ID, Rule, CustomerID,
//     Channel or At, or its payload does not marshal to JSON; an admitted
//     trigger repeats an earlier trigger's ID; a suppression has no reason;
//   - an ignore report's reason is not a short snake_case word;
//   - a timer is set or cancelled with no key, or set at the zero time, or
//     by a processor that is not a journey.TimerHandler;
//   - a string value of four or more bytes from any event's traits (personal
//     data) appears in a trigger's payload or reason, a context field, a
//     state's JSON or its encoding;
//   - the engine cannot be built, or a fold or a fired timer returns an
//     error.
package processortest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/journey-dev/journey/pkg/journey"
)

var update = flag.Bool("update", false, "rewrite the output section of golden files under processors/ from what the code produces")

// separator divides a golden file's input from its expected output.
const separator = "----"

// Run checks p against every dir/*.txt golden file, one sub-test per file,
// as described in the package comment. With -update it rewrites the files'
// output sections instead of comparing them.
func Run(t *testing.T, p journey.Processor, dir string) {
	t.Helper()
	RunEngine(t, []journey.Processor{p}, dir)
}

// RunEngine is Run for an engine of several processors, folded in the
// given order (at most one of them a journey.Policy, which sees every
// trigger the others emit).
func RunEngine(t *testing.T, procs []journey.Processor, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("processortest: no golden files in %s", dir)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			runFile(t, procs, path)
		})
	}
}

func runFile(t *testing.T, procs []journey.Processor, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := parse(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	got, problems := check(procs, &g)
	for _, pr := range problems {
		t.Errorf("%s: %s", path, pr)
	}
	if *update {
		if got != g.output {
			if err := os.WriteFile(path, []byte(g.input+got), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: updated", path)
		}
		return
	}
	if !g.hasOutput {
		t.Fatalf("%s: no %q line and no expected output; run go test ./processors/... -update", path, separator)
	}
	if got != g.output {
		t.Errorf("%s: output differs (-want +got); if the change is intended, run go test ./processors/... -update\n%s",
			path, diff(g.output, got, g.outputLine))
	}
}
