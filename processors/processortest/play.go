package processortest

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/journey-dev/journey/pkg/journey"
)

// randomSplits is how many random batchings check tries per file.
const randomSplits = 3

// check plays the golden file's steps several times — in one batch, in
// one batch again, committing after every step, and in random batches,
// reloading the states from their encoding after each commit — and
// returns the output of the first run and every problem found.
func check(procs []journey.Processor, g *golden) (string, []string) {
	traits := []string{} // not nil: the checks run
	for _, s := range g.steps {
		traits = append(traits, s.traits...)
	}
	first := play(procs, g, nil, traits)
	problems := first.problems
	if first.fatal {
		return first.text, problems
	}
	if again := play(procs, g, nil, nil); again.text != first.text {
		problems = append(problems, "folding is not deterministic: a second run gave (-first +second)\n"+diff(first.text, again.text, 1))
	}
	every := make([]bool, len(g.steps))
	for i := range every {
		every[i] = true
	}
	if reload := play(procs, g, every, nil); reload.text != first.text {
		problems = append(problems, "folding from the decoded state after every event differs from folding in memory (-memory +decoded)\n"+
			diff(first.text, reload.text, 1)+strings.Join(reload.problems, "\n"))
	}
	h := fnv.New64a()
	h.Write([]byte(g.input))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x6a6f75726e6579))
	for range randomSplits {
		cuts := make([]bool, len(g.steps))
		for i := range cuts {
			cuts[i] = i == len(cuts)-1 || rng.IntN(3) == 0
		}
		if batched := play(procs, g, cuts, nil); batched.text != first.text {
			problems = append(problems, fmt.Sprintf("folding in random batches of %v steps, reloading the states from their encoding after each, "+
				"differs from folding in one batch (-one batch +batches)\n", batchSizes(cuts))+
				diff(first.text, batched.text, 1)+strings.Join(batched.problems, "\n"))
			break // one failing split says enough
		}
	}
	return first.text, problems
}

// batchSizes lists the sizes of the batches cuts makes.
func batchSizes(cuts []bool) []int {
	var sizes []int
	n := 0
	for _, c := range cuts {
		n++
		if c {
			sizes = append(sizes, n)
			n = 0
		}
	}
	if n > 0 {
		sizes = append(sizes, n)
	}
	return sizes
}

type result struct {
	text     string
	problems []string
	fatal    bool // playing stopped early
}

// play runs g's steps once through a fresh engine, runner and MemTimers.
// With commitAfter, the changed states are committed (encoded into a map
// the runner loads from) and the runner's cache reset after each step i
// where commitAfter[i] is set, as the pipeline does after each commit.
// traits, when not nil, are the values that must not leak; the per-step
// checks run only then.
func play(procs []journey.Processor, g *golden, commitAfter []bool, traits []string) result {
	p := &player{
		procs:   procs,
		timers:  new(journey.MemTimers),
		stored:  map[storeKey][]byte{},
		dirty:   map[string][]bool{},
		checked: traits != nil,
		traits:  traits,
		ids:     map[string]string{},
		known:   map[string]bool{},
		gone:    map[string]bool{},
	}
	engine, err := journey.NewEngine(procs...)
	if err != nil {
		p.r.problems = append(p.r.problems, err.Error())
		p.r.fatal = true
		return p.r
	}
	p.engine = engine
	p.runner = journey.NewRunner(engine, p.load)
	p.runner.Timers = recordingTimers{p.timers, p}
	p.runner.Lateness = g.settings.lateness
	p.runner.DropLate = g.settings.dropLate
	for _, proc := range procs {
		if _, ok := proc.(journey.TimerHandler); ok {
			p.timed = true
		}
		if _, ok := proc.(journey.ContextSource); ok {
			p.contexts = true
		}
	}
	for i := range g.steps {
		s := &g.steps[i]
		p.cur = s
		p.out.Reset()
		var err error
		if s.ev != nil {
			err = p.apply(s)
		} else if s.merge != nil {
			err = p.merge(s.merge)
		} else {
			p.b.WriteString(s.label + "\n")
			if err = p.runner.Advance(s.advance, &p.out); err == nil {
				p.closeStep()
			}
		}
		if err != nil {
			p.problem("%v", err)
			p.r.fatal = true
		}
		if p.r.fatal {
			break
		}
		if commitAfter != nil && commitAfter[i] {
			if err := p.commit(); err != nil {
				p.problem("commit: %v", err)
				p.r.fatal = true
				break
			}
		}
	}
	if !p.r.fatal {
		p.finish()
	}
	p.r.text = p.b.String()
	return p.r
}

type storeKey struct{ customer, processor string }

// player is one run of a golden file.
type player struct {
	procs    []journey.Processor
	engine   *journey.Engine
	runner   *journey.Runner
	timers   *journey.MemTimers
	stored   map[storeKey][]byte // the committed states
	dirty    map[string][]bool   // by customer: the states changed since the last commit, less c.Dirty
	out      journey.Output
	checked  bool
	traits   []string
	ids      map[string]string // trigger id -> where it was emitted
	timed    bool              // a processor handles timers
	contexts bool              // a processor is a ContextSource

	b         strings.Builder
	r         result
	customers []string // in order of first event
	known     map[string]bool
	gone      map[string]bool // customers merged into another, with no state since

	cur      *step     // the input step being run
	applying bool      // cur is an event inside Runner.Apply
	open     *openStep // the fold or timer being recorded
}

// openStep is a fold of an event or a fired timer being recorded: what the
// output held and the customer's encoded states before it.
type openStep struct {
	timer                         *journey.Timer // nil for the event's fold
	c                             *journey.Customer
	before                        [][]byte
	triggers, suppressed, timerOp int // lengths of out's slices before it
	ignored                       int // length of out.Ignored before it
}

// recordingTimers is the runner's TimerStore: a MemTimers that tells the
// player where each fired timer's output starts. The runner pops due
// timers one at a time, firing each before popping the next, and folds an
// event only after PopDue said nothing more is due.
type recordingTimers struct {
	*journey.MemTimers
	p *player
}

// PopDue implements journey.TimerStore.
func (r recordingTimers) PopDue(upTo time.Time) (journey.Timer, bool, error) {
	t, ok, err := r.MemTimers.PopDue(upTo)
	if err != nil {
		return t, ok, err
	}
	return t, ok, r.p.popped(t, ok)
}

func (p *player) load(customer string, proc journey.Processor, st journey.State) (bool, error) {
	b, ok := p.stored[storeKey{customer, proc.Name()}]
	if !ok {
		return false, nil
	}
	return true, st.UnmarshalBinary(b)
}

// where names the current step in problems.
func (p *player) where() string {
	if p.cur == nil {
		return "end"
	}
	w := fmt.Sprintf("line %d (%s)", p.cur.line, p.cur.label)
	if o := p.open; o != nil && o.timer != nil {
		w += fmt.Sprintf(", timer %s/%s of customer %s", o.timer.Processor, o.timer.Key, o.timer.Customer)
	}
	return w
}

func (p *player) problem(format string, args ...any) {
	p.r.problems = append(p.r.problems, p.where()+": "+fmt.Sprintf(format, args...))
}

func (p *player) apply(s *step) error {
	ev := *s.ev // a copy: a processor mutating the event must not change the next run
	late := p.runner.Late(&ev)
	p.applying = true
	defer func() { p.applying = false }()
	if err := p.openStep(nil, ev.CustomerID); err != nil {
		return err
	}
	err := p.runner.Apply(&ev, &p.out)
	dropped := errors.Is(err, journey.ErrLate)
	if err != nil && !dropped {
		var fe *journey.FoldError
		if errors.As(err, &fe) && fe.Stack != nil { // a golden file is ours: show where it panicked
			return fmt.Errorf("event %s: %w\n%s", ev.ID, err, fe.Stack)
		}
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if !dropped {
		p.seen(ev.CustomerID)
	}
	var flags []string
	if late {
		flags = append(flags, "late")
	}
	if dropped {
		flags = append(flags, "dropped")
	}
	p.closeStepFlags(flags)
	return nil
}

// seen records that customer id has state.
func (p *player) seen(id string) {
	delete(p.gone, id)
	if !p.known[id] {
		p.known[id] = true
		p.customers = append(p.customers, id)
	}
}

// merge runs a merge directive as the pipeline does: it takes the
// from-customer's states (leaving it with none) and its armed timers
// (disarmed), and hands them to Runner.Merge for the into-customer.
func (p *player) merge(m *mergeStep) error {
	from, err := p.runner.Customer(m.from)
	if err != nil {
		return err
	}
	states := slices.Clone(from.States)
	for i, proc := range p.procs {
		from.States[i] = proc.NewState()
		from.Dirty[i] = true
	}
	p.gone[m.from] = true
	var timers []journey.Timer
	for _, t := range p.timers.Pending() {
		if t.Customer == m.from {
			timers = append(timers, t)
			if err := p.timers.Cancel(t.Customer, t.Processor, t.Key); err != nil {
				return err
			}
		}
	}
	has := func(processor, key string) (bool, error) {
		return slices.ContainsFunc(p.timers.Pending(), func(t journey.Timer) bool {
			return t.Customer == m.into && t.Processor == processor && t.Key == key
		}), nil
	}
	if err := p.openStep(nil, m.into); err != nil {
		return err
	}
	if err := p.runner.Merge(m.into, states, timers, m.at, has, &p.out); err != nil {
		var fe *journey.FoldError
		if errors.As(err, &fe) && fe.Stack != nil {
			return fmt.Errorf("merge: %w\n%s", err, fe.Stack)
		}
		return fmt.Errorf("merge: %w", err)
	}
	p.seen(m.into)
	p.closeStep()
	return nil
}

// popped is called by recordingTimers on every PopDue: it closes the step
// being recorded and opens the next, the fired timer's or, when nothing
// more is due, the event's fold.
func (p *player) popped(t journey.Timer, ok bool) error {
	if o := p.open; o != nil {
		if o.timer == nil {
			// The event's fold was opened before Apply; Apply fires the due
			// timers first, so nothing can have happened since.
			if p.marks() != [3]int{o.triggers, o.suppressed, o.timerOp} || slices.Contains(o.c.Dirty, true) {
				p.problem("processortest: the runner changed something before firing the due timers")
			}
			p.open = nil
		} else {
			p.closeStep()
		}
	}
	if ok {
		return p.openStep(&t, t.Customer)
	}
	if p.applying {
		return p.openStep(nil, p.cur.ev.CustomerID)
	}
	return nil
}

func (p *player) marks() [3]int {
	return [3]int{len(p.out.Triggers), len(p.out.Suppressed), len(p.out.Timers)}
}

// settle moves c's Dirty flags into p.dirty, so that c.Dirty then says
// what the next step changed.
func (p *player) settle(c *journey.Customer) {
	flags := p.dirty[c.ID]
	if flags == nil {
		flags = make([]bool, len(p.procs))
		p.dirty[c.ID] = flags
	}
	for i, d := range c.Dirty {
		if d {
			flags[i] = true
			c.Dirty[i] = false
		}
	}
}

func (p *player) openStep(timer *journey.Timer, customer string) error {
	c, err := p.runner.Customer(customer)
	if err != nil {
		return err
	}
	p.settle(c)
	m := p.marks()
	o := &openStep{timer: timer, c: c, triggers: m[0], suppressed: m[1], timerOp: m[2], ignored: len(p.out.Ignored)}
	if p.checked {
		for i, st := range c.States {
			b, err := st.MarshalBinary()
			if err != nil {
				return fmt.Errorf("%s: MarshalBinary before the step: %w", p.procs[i].Name(), err)
			}
			o.before = append(o.before, b)
		}
	}
	p.open = o
	return nil
}

func (p *player) closeStep() { p.closeStepFlags(nil) }

// closeStepFlags writes the open step's line, flagged, and its output, and
// runs the checks.
func (p *player) closeStepFlags(flags []string) {
	o := p.open
	if o == nil {
		return
	}
	p.open = nil
	changed := slices.Clone(o.c.Dirty)
	p.settle(o.c)
	if !slices.Contains(changed, true) && !slices.Contains(flags, "dropped") {
		flags = append(flags, "no change")
	}
	if o.timer != nil {
		fmt.Fprintf(&p.b, "timer %s/%s @%s customer %s", o.timer.Processor, o.timer.Key, o.timer.At.Format(time.RFC3339Nano), o.timer.Customer)
	} else {
		p.b.WriteString(p.cur.label)
	}
	if len(flags) > 0 {
		fmt.Fprintf(&p.b, " (%s)", strings.Join(flags, ", "))
	}
	p.b.WriteByte('\n')
	p.open = o // for where() in the problems below
	defer func() { p.open = nil }()

	for i := o.triggers; i < len(p.out.Triggers); i++ {
		tr := &p.out.Triggers[i]
		writeTrigger(&p.b, tr)
		if p.checked {
			checkTrigger(tr, p.traits, p.problem)
			if at, dup := p.ids[tr.ID]; dup {
				p.problem("trigger %s: id %s was already emitted at %s: a sink would drop this one", tr.Rule, tr.ID, at)
			} else {
				p.ids[tr.ID] = p.where()
			}
		}
	}
	for i := o.suppressed; i < len(p.out.Suppressed); i++ {
		sp := &p.out.Suppressed[i]
		fmt.Fprintf(&p.b, "  suppressed %s -> %s: %s\n", sp.Trigger.Rule, sp.Trigger.Channel, sp.Reason)
		if p.checked {
			checkTrigger(&sp.Trigger, p.traits, p.problem)
			if sp.Reason == "" {
				p.problem("suppressed trigger %s has no reason", sp.Trigger.Rule)
			}
		}
	}
	for i := o.timerOp; i < len(p.out.Timers); i++ {
		op := &p.out.Timers[i]
		if op.Cancel {
			fmt.Fprintf(&p.b, "  cancel timer %s/%s\n", op.Processor, op.Key)
		} else {
			fmt.Fprintf(&p.b, "  set timer %s/%s @%s\n", op.Processor, op.Key, op.At.Format(time.RFC3339Nano))
		}
		if p.checked {
			p.checkTimerOp(op)
		}
	}
	for i := o.ignored; i < len(p.out.Ignored); i++ {
		ig := &p.out.Ignored[i]
		fmt.Fprintf(&p.b, "  ignored by %s: %s\n", ig.Processor, ig.Reason)
		if p.checked && !validReason(ig.Reason) {
			p.problem("%s ignored an event with reason %q: want a short snake_case word (a metric label)", ig.Processor, ig.Reason)
		}
	}
	if p.checked {
		p.checkStates(o, changed)
	}
}

// validReason reports whether r is fit for a metric label: 1 to 40 bytes
// of a-z, 0-9 and _, starting with a letter.
func validReason(r string) bool {
	if r == "" || len(r) > 40 || r[0] < 'a' || r[0] > 'z' {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func (p *player) checkTimerOp(op *journey.TimerOp) {
	if op.Key == "" {
		p.problem("%s set or cancelled a timer with no key", op.Processor)
	}
	if !op.Cancel && op.At.IsZero() {
		p.problem("%s set timer %q at the zero time", op.Processor, op.Key)
	}
	for _, proc := range p.procs {
		if proc.Name() == op.Processor {
			if _, ok := proc.(journey.TimerHandler); !ok {
				p.problem("%s sets timers but is not a journey.TimerHandler", op.Processor)
			}
		}
	}
}

// checkStates checks the step's customer's states: a state that changed
// without being reported, encodings that do not round-trip, personal data.
func (p *player) checkStates(o *openStep, changed []bool) {
	for i, st := range o.c.States {
		proc := p.procs[i]
		name := proc.Name()
		enc, err := st.MarshalBinary()
		if err != nil {
			p.problem("%s: MarshalBinary: %v", name, err)
			p.r.fatal = true
			return
		}
		if !changed[i] && !bytes.Equal(o.before[i], enc) {
			call := "Fold"
			if o.timer != nil {
				call = "OnTimer"
			}
			if _, ok := proc.(journey.Policy); ok {
				call += " or Admit"
			}
			p.problem("%s: %s reported no change but the encoded state changed", name, call)
		}
		dec := proc.NewState()
		if err := dec.UnmarshalBinary(enc); err != nil {
			p.problem("%s: UnmarshalBinary of the state just marshalled: %v", name, err)
			p.r.fatal = true
			return
		}
		checkRoundTrip(st, dec, enc, func(f string, a ...any) { p.problem(name+": "+f, a...) })
		sj, _ := json.Marshal(st)
		for _, v := range p.traits {
			if bytes.Contains(sj, []byte(v)) || bytes.Contains(enc, []byte(v)) {
				p.problem("%s: a trait value (personal data) is in the state", name)
			}
		}
	}
}

// commit stores the states changed since the last commit and resets the
// runner's cache, so the next steps load them from their encoding.
func (p *player) commit() error {
	for _, c := range p.runner.Touched() {
		p.settle(c)
		for i, d := range p.dirty[c.ID] {
			if !d {
				continue
			}
			if p.gone[c.ID] {
				delete(p.stored, storeKey{c.ID, p.procs[i].Name()})
				continue
			}
			b, err := c.States[i].MarshalBinary()
			if err != nil {
				return fmt.Errorf("customer %s: %s: MarshalBinary: %w", c.ID, p.procs[i].Name(), err)
			}
			p.stored[storeKey{c.ID, p.procs[i].Name()}] = b
		}
	}
	clear(p.dirty)
	p.runner.Reset()
	return nil
}

// finish writes each customer's context and states, then the pending
// timers.
func (p *player) finish() {
	p.cur = nil
	for _, id := range p.customers {
		if p.gone[id] {
			continue
		}
		c, err := p.runner.Customer(id)
		if err != nil {
			p.problem("customer %s: %v", id, err)
			continue
		}
		fmt.Fprintf(&p.b, "\ncustomer %s\n", id)
		if p.contexts {
			fields := p.engine.Context(c)
			p.b.WriteString("  context\n")
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				// No trailing space after an empty value: editors strip it.
				fmt.Fprintf(&p.b, "    %s\n", strings.TrimRight(k+" = "+fields[k], " "))
				if p.checked {
					for _, v := range p.traits {
						if strings.Contains(fields[k], v) {
							p.problem("customer %s: a trait value (personal data) is in context field %s", id, k)
						}
					}
				}
			}
		}
		for i, st := range c.States {
			if len(p.procs) == 1 {
				p.b.WriteString("  state\n")
			} else {
				fmt.Fprintf(&p.b, "  state %s\n", p.procs[i].Name())
			}
			j, err := json.Marshal(st)
			if err != nil {
				p.problem("customer %s: %s: json.Marshal of the state: %v", id, p.procs[i].Name(), err)
				continue
			}
			ind, err := indentJSON(j, "    ")
			if err != nil {
				p.problem("customer %s: %s: formatting the state's JSON: %v", id, p.procs[i].Name(), err)
				continue
			}
			fmt.Fprintf(&p.b, "    %s\n", ind)
		}
	}
	pending := p.timers.Pending()
	if !p.timed && len(pending) == 0 {
		return
	}
	wm := "none"
	if w := p.runner.Watermark(); !w.IsZero() {
		wm = w.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(&p.b, "\npending timers (watermark %s)\n", wm)
	if len(pending) == 0 {
		p.b.WriteString("  none\n")
	}
	for _, t := range pending {
		fmt.Fprintf(&p.b, "  %s/%s @%s customer %s\n", t.Processor, t.Key, t.At.Format(time.RFC3339Nano), t.Customer)
	}
}

// checkRoundTrip reports when dec, decoded from enc, the encoding of st,
// differs from st in JSON or encodes to other bytes.
func checkRoundTrip(st, dec journey.State, enc []byte, problem func(string, ...any)) {
	want, err := json.Marshal(st)
	if err != nil {
		problem("json.Marshal of the state: %v", err)
		return
	}
	got, err := json.Marshal(dec)
	if err != nil {
		problem("json.Marshal of the decoded state: %v", err)
		return
	}
	if !bytes.Equal(want, got) {
		problem("MarshalBinary -> UnmarshalBinary changed the state:\n  before %s\n  after  %s", want, got)
	}
	again, err := dec.MarshalBinary()
	if err != nil {
		problem("MarshalBinary of the decoded state: %v", err)
		return
	}
	if !bytes.Equal(enc, again) {
		problem("the encoding is not canonical: the decoded state encodes to other bytes\n  first  %x\n  second %x", enc, again)
	}
	// The pipeline encodes through AppendBinary when a state has it, into
	// a reused buffer: it must append exactly MarshalBinary's bytes.
	if a, ok := dec.(encoding.BinaryAppender); ok {
		prefix := []byte("prefix")
		got, err := a.AppendBinary(prefix[:len(prefix):len(prefix)])
		if err != nil {
			problem("AppendBinary of the decoded state: %v", err)
			return
		}
		if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], enc) {
			problem("AppendBinary does not append MarshalBinary's bytes\n  marshal %x\n  append  %x", enc, got)
		}
	}
}

// checkTrigger reports what a trigger sink would reject and personal data
// in the trigger.
func checkTrigger(tr *journey.Trigger, traits []string, problem func(string, ...any)) {
	for _, f := range []struct {
		name  string
		empty bool
	}{
		{"ID", tr.ID == ""},
		{"Rule", tr.Rule == ""},
		{"CustomerID", tr.CustomerID == ""},
		{"Channel", tr.Channel == ""},
		{"At", tr.At.IsZero()},
	} {
		if f.empty {
			problem("trigger %s has no %s", tr.Rule, f.name)
		}
	}
	pj, err := json.Marshal(tr.Payload)
	if err != nil {
		problem("trigger %s: payload does not marshal to JSON: %v", tr.Rule, err)
	}
	for _, v := range traits {
		if bytes.Contains(pj, []byte(v)) || strings.Contains(tr.Reason, v) {
			problem("trigger %s carries a trait value (personal data)", tr.Rule)
		}
	}
}

func writeTrigger(b *strings.Builder, tr *journey.Trigger) {
	causes, _ := json.Marshal(tr.Causes)
	if tr.Causes == nil {
		causes = []byte("[]")
	}
	payload, err := json.Marshal(tr.Payload)
	if err != nil {
		payload = []byte("!" + err.Error())
	}
	if tr.Payload == nil {
		payload = []byte("{}")
	}
	fmt.Fprintf(b, "  trigger %s -> %s\n", tr.Rule, tr.Channel)
	fmt.Fprintf(b, "    id       %s\n", tr.ID)
	fmt.Fprintf(b, "    customer %s\n", tr.CustomerID)
	fmt.Fprintf(b, "    at       %s\n", tr.At.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(b, "    reason   %s\n", tr.Reason)
	fmt.Fprintf(b, "    causes   %s\n", causes)
	fmt.Fprintf(b, "    payload  %s\n", payload)
}
