package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/replay"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

const stateUsage = `Usage: journey state <subcommand> [flags] [arguments]

Inspect, compare, promote and restore state directories. Every subcommand
opens state read-only except promote, which only renames directories, and
restore, which writes the directory it rebuilds; none of them can open a
directory a running journey holds (Pebble locks it).

Subcommands:
  get      one customer's journey: each processor's state, pending timers,
           the partition's watermark and input offsets
  diff     compare two state directories (exit 0 identical, 1 different, 2 trouble)
  promote  make a finished replay's state directory the live one
  restore  rebuild a state directory from the changelog topic (a consistent
           copy of a running group's state, or a pre-warmed disk)

Run 'journey state <subcommand> -h' for its flags.
`

// runState is `journey state`. `state diff` follows diff(1) (0 identical,
// 1 different, 2 trouble) and usage errors are 2, so stateMain prints its
// own messages and runState hands dispatch just the status.
func runState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if code := stateMain(ctx, args, stdout, stderr); code != 0 {
		return exitStatus(code)
	}
	return nil
}

// Exit statuses of `journey state`.
const (
	exitOK    = 0
	exitFail  = 1 // get: no such customer or an error; diff: differences; promote: refused or failed
	exitUsage = 2 // a bad command line; diff: an error
)

// errUsage marks a command line error the flag set has already reported.
var errUsage = errors.New("usage")

// stateMain runs `journey state` and returns its exit status.
func stateMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, stateUsage)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, stateUsage)
		return exitOK
	case "get":
		return status(stderr, "get", stateGet(args[1:], stdout, stderr), exitFail)
	case "diff":
		differ, err := stateDiff(ctx, args[1:], stdout, stderr)
		if err == nil && differ {
			return exitFail
		}
		return status(stderr, "diff", err, exitUsage)
	case "promote":
		return status(stderr, "promote", statePromote(args[1:], stdout, stderr), exitFail)
	case "restore":
		return status(stderr, "restore", stateRestore(ctx, args[1:], stdout, stderr), exitFail)
	}
	fmt.Fprintf(stderr, "journey state: unknown subcommand %q\n\n", args[0])
	fmt.Fprint(stderr, stateUsage)
	return exitUsage
}

// status reports err (if any) and returns the exit status: 0 for none or
// -h, exitUsage for a bad command line, else code.
func status(stderr io.Writer, sub string, err error, code int) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	}
	fmt.Fprintf(stderr, "journey state %s: %v\n", sub, err)
	return code
}

// newStateFlags returns a subcommand's flag set, printing usage (text
// before the flags) on -h or a bad flag.
func newStateFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("state "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags wherever they stand among the positional
// arguments (`state get c-42 --json`) and returns the positional ones.
// Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// badArgs reports a wrong number of positional arguments with the usage.
func badArgs(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "journey %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

// configFlag registers --config, as `journey run` has it.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("JOURNEY_CONFIG"), "YAML configuration file whose processors decode the states (default: the built-in defaults) [$JOURNEY_CONFIG]")
}

// loadStateConfig loads the configuration (defaults when path is empty)
// and builds its processors, which decode the states. The rest of the
// configuration is not validated: nothing here talks to Kafka or Redis.
func loadStateConfig(path string) (config.Config, []journey.Processor, error) {
	cfg := config.Default()
	if err := cfg.Load(path); err != nil {
		return cfg, nil, err
	}
	procs, err := processors.Build(cfg.Processors, nil)
	if err != nil {
		return cfg, nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return cfg, procs, nil
}

// openState opens dir read-only, saying in the flag's name what is wrong.
func openState(flagName, dir string) (*state.Store, error) {
	s, err := state.OpenReadOnly(dir)
	switch {
	case errors.Is(err, state.ErrInUse):
		return nil, fmt.Errorf("%sstate dir %s is in use by another process (a running journey?)", flagName, dir)
	case errors.Is(err, state.ErrNoStore):
		return nil, fmt.Errorf("%s%w", flagName, err)
	case err != nil:
		return nil, fmt.Errorf("%sstate dir %s: %w", flagName, dir, err)
	}
	return s, nil
}

// ---- get

const stateGetUsage = `Usage: journey state get [--state-dir dir] [--config file] [--json] <customer id>

Prints what the state directory holds of one customer: each processor's
state (decoded by the configuration's processors), the customer's pending
timers, and the partition's watermark and input offsets. With --json, one
JSON object per partition holding the customer (normally one). Exits 1
when the directory holds nothing of the customer.

The directory must not be in use (Pebble locks it): stop journey first.

Flags:
`

func stateGet(args []string, stdout, stderr io.Writer) error {
	fs := newStateFlags("get", stateGetUsage, stderr)
	dir := fs.String("state-dir", "", "state directory (default: state.dir of --config, else journey-data) [$JOURNEY_STATE_DIR]")
	path := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return badArgs(fs, "want one customer id, got %d arguments", len(pos))
	}
	customer := pos[0]
	cfg, procs, err := loadStateConfig(*path)
	if err != nil {
		return err
	}
	stateDir := firstNonEmpty(*dir, os.Getenv(config.EnvName("state-dir")), cfg.State.Dir)
	store, err := openState("", stateDir)
	if err != nil {
		return err
	}
	defer store.Close()
	found, err := store.Customer(customer)
	if err != nil {
		return fmt.Errorf("state dir %s: %w", stateDir, err)
	}
	if len(found) == 0 {
		return fmt.Errorf("customer %q has no state in %s", customer, stateDir)
	}
	for i, cs := range found {
		sum, err := store.Summary(cs.Partition)
		if err != nil {
			return fmt.Errorf("state dir %s: %w", stateDir, err)
		}
		view := newCustomerView(customer, cs, sum, procs)
		if *asJSON {
			if err := writeJSON(stdout, view.json()); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if len(found) > 1 {
			fmt.Fprintf(stdout, "NOTE: %d partitions hold state of this customer (were the input topics re-partitioned?)\n", len(found))
		}
		view.writeText(stdout)
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// decodedState is one processor's stored state of a customer, decoded.
type decodedState struct {
	Processor string
	Version   uint32
	// JSON is the decoded state marshalled; nil when Note says why it
	// could not be decoded.
	JSON json.RawMessage
	Note string
}

// decodeState decodes a stored state with p (nil: a processor the
// configuration does not have). A state it cannot read is described, not
// an error: one bad state must not hide the others.
func decodeState(name string, p journey.Processor, version uint32, data []byte) decodedState {
	d := decodedState{Processor: name, Version: version}
	switch {
	case p == nil:
		d.Note = fmt.Sprintf("not decoded: %q is not a processor of this configuration (%d bytes)", name, len(data))
	case version != p.StateVersion():
		d.Note = fmt.Sprintf("not decoded: stored as state version %d, this build reads version %d (%d bytes)",
			version, p.StateVersion(), len(data))
	default:
		st := p.NewState()
		if err := st.UnmarshalBinary(data); err != nil {
			d.Note = fmt.Sprintf("not decoded: %v (%d bytes)", err, len(data))
			break
		}
		b, err := json.Marshal(st)
		if err != nil {
			d.Note = fmt.Sprintf("not shown: %v", err)
			break
		}
		d.JSON = b
	}
	return d
}

// decodeAll decodes a customer's states in the configuration's processor
// order, then any other processor's by name. missing lists the
// configuration's processors with no state for the customer.
func decodeAll(states map[string]state.StoredState, procs []journey.Processor) (out []decodedState, missing []string) {
	for _, p := range procs {
		st, ok := states[p.Name()]
		if !ok {
			missing = append(missing, p.Name())
			continue
		}
		out = append(out, decodeState(p.Name(), p, st.Version, st.Data))
	}
	for _, name := range slices.Sorted(maps.Keys(states)) {
		if !slices.ContainsFunc(procs, func(p journey.Processor) bool { return p.Name() == name }) {
			out = append(out, decodeState(name, nil, states[name].Version, states[name].Data))
		}
	}
	return out, missing
}

// customerView is what `state get` shows of a customer in one partition.
type customerView struct {
	customer string
	states   []decodedState
	missing  []string
	timers   []journey.Timer
	sum      state.PartitionSummary
}

func newCustomerView(customer string, cs state.CustomerState, sum state.PartitionSummary, procs []journey.Processor) customerView {
	states, missing := decodeAll(cs.States, procs)
	return customerView{customer: customer, states: states, missing: missing, timers: cs.Timers, sum: sum}
}

// customerJSON is `state get --json`.
type customerJSON struct {
	Customer  string               `json:"customer"`
	Partition int                  `json:"partition"`
	States    map[string]stateJSON `json:"states"`
	Timers    []timerJSON          `json:"timers"`
	Watermark time.Time            `json:"watermark,omitzero"`
	Offsets   map[string]int64     `json:"offsets"`
}

type stateJSON struct {
	Version uint32          `json:"version"`
	State   json.RawMessage `json:"state,omitempty"`
	Error   string          `json:"error,omitempty"`
}

type timerJSON struct {
	At        time.Time `json:"at"`
	Processor string    `json:"processor"`
	Key       string    `json:"key"`
}

func (v customerView) json() customerJSON {
	out := customerJSON{
		Customer: v.customer, Partition: v.sum.ID, States: map[string]stateJSON{}, Timers: []timerJSON{},
		Watermark: v.sum.Watermark, Offsets: v.sum.Offsets,
	}
	for _, d := range v.states {
		out.States[d.Processor] = stateJSON{Version: d.Version, State: d.JSON, Error: d.Note}
	}
	for _, t := range v.timers {
		out.Timers = append(out.Timers, timerJSON{At: t.At, Processor: t.Processor, Key: t.Key})
	}
	return out
}

func (v customerView) writeText(w io.Writer) {
	fmt.Fprintf(w, "customer %s (partition %d)\n", v.customer, v.sum.ID)
	for _, d := range v.states {
		fmt.Fprintf(w, "\n%s (state version %d)\n", d.Processor, d.Version)
		if d.JSON == nil {
			fmt.Fprintf(w, "  %s\n", d.Note)
			continue
		}
		writeTree(w, d.JSON, "  ")
	}
	if len(v.missing) > 0 {
		fmt.Fprintf(w, "\nno state: %s\n", strings.Join(v.missing, ", "))
	}
	fmt.Fprintf(w, "\ntimers: %d pending\n", len(v.timers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range v.timers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.At.Format(time.RFC3339Nano), t.Processor, t.Key, dueIn(t.At, v.sum.Watermark))
	}
	_ = tw.Flush()
	writePartition(w, v.sum)
}

// dueIn says when a timer fires: how much event time after the watermark.
func dueIn(at, watermark time.Time) string {
	if watermark.IsZero() {
		return ""
	}
	d := at.Sub(watermark)
	if d <= 0 {
		return "(due: fires with the partition's next event or idle tick)"
	}
	if days := d / (24 * time.Hour); days > 0 {
		return fmt.Sprintf("(in %dd%s of event time)", days, d%(24*time.Hour))
	}
	return fmt.Sprintf("(in %s of event time)", d)
}

func writePartition(w io.Writer, sum state.PartitionSummary) {
	fmt.Fprintf(w, "\npartition %d\n", sum.ID)
	wm := "none recorded"
	if !sum.Watermark.IsZero() {
		wm = sum.Watermark.Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "  watermark: %s\n", wm)
	fmt.Fprintf(w, "  armed timers (all customers): %d\n  undelivered outbox entries: %d\n", sum.Timers, sum.Outbox)
	if len(sum.Offsets) == 0 {
		fmt.Fprintln(w, "  offsets: none (no input read yet)")
		return
	}
	fmt.Fprintln(w, "  offsets (next to read):")
	for _, topic := range slices.Sorted(maps.Keys(sum.Offsets)) {
		fmt.Fprintf(w, "    %s: %d\n", topic, sum.Offsets[topic])
	}
}

// ---- rendering a state's JSON as an indented key: value tree

// jsonNode is a JSON value that keeps its objects' key order (the state
// struct's field order).
type jsonNode struct {
	kind   byte // 'o' object, 'a' array, 's' scalar
	keys   []string
	vals   []*jsonNode
	scalar string
}

// writeTree writes JSON as YAML-like lines: "key: value" for scalars and
// lists of scalars, nested objects indented under their key, lists of
// objects as "- " items. Invalid JSON is written as it is.
func writeTree(w io.Writer, data []byte, indent string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseNode(dec)
	if err != nil {
		fmt.Fprintf(w, "%s%s\n", indent, data)
		return
	}
	lines := n.lines()
	if n.inline() {
		lines = []string{n.inlineText()}
	}
	for _, l := range lines {
		fmt.Fprintf(w, "%s%s\n", indent, l)
	}
}

func parseNode(dec *json.Decoder) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &jsonNode{kind: 'a'}
		if t == '{' {
			n.kind = 'o'
		}
		for dec.More() {
			if n.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, fmt.Sprint(k))
			}
			v, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		_, err := dec.Token() // the closing delimiter
		return n, err
	case string:
		return &jsonNode{kind: 's', scalar: quoteIfNeeded(t)}, nil
	case nil:
		return &jsonNode{kind: 's', scalar: "null"}, nil
	default: // json.Number, bool
		return &jsonNode{kind: 's', scalar: fmt.Sprint(t)}, nil
	}
}

// quoteIfNeeded quotes a string that would not read back as itself: empty,
// padded, holding control characters or list punctuation.
func quoteIfNeeded(s string) string {
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, ",[]{}\"") || strconv.Quote(s) != `"`+s+`"` {
		return strconv.Quote(s)
	}
	return s
}

// inline reports whether n fits after its key on one line: a scalar, an
// empty object or list, or a list of scalars.
func (n *jsonNode) inline() bool {
	if n.kind == 's' || len(n.vals) == 0 {
		return true
	}
	if n.kind == 'o' {
		return false
	}
	for _, v := range n.vals {
		if v.kind != 's' {
			return false
		}
	}
	return true
}

func (n *jsonNode) inlineText() string {
	switch {
	case n.kind == 's':
		return n.scalar
	case n.kind == 'o':
		return "{}"
	}
	items := make([]string, len(n.vals))
	for i, v := range n.vals {
		items[i] = v.scalar
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// lines renders a non-inline n, unindented.
func (n *jsonNode) lines() []string {
	var out []string
	for i, v := range n.vals {
		if n.kind == 'o' {
			if v.inline() {
				out = append(out, n.keys[i]+": "+v.inlineText())
				continue
			}
			out = append(out, n.keys[i]+":")
			for _, l := range v.lines() {
				out = append(out, "  "+l)
			}
			continue
		}
		if v.inline() {
			out = append(out, "- "+v.inlineText())
			continue
		}
		for j, l := range v.lines() {
			if j == 0 {
				out = append(out, "- "+l)
			} else {
				out = append(out, "  "+l)
			}
		}
	}
	return out
}

// ---- diff

const stateDiffUsage = `Usage: journey state diff [--config file] [--sample N] <dir A> <dir B>

Compares two state directories (a live one and a replay's, say) in one
ordered pass over both: per processor, how many customers' states are only
in A, only in B, or differ; a sample of the differences with both states
decoded; and per partition, the input offsets and the number of pending
timers. Exits 0 when they are identical ("no differences"), 1 when they
differ, 2 on trouble, like diff(1).

Neither directory may be in use: stop journey first.

Flags:
`

// diffCount counts one processor's differing customers.
type diffCount struct{ onlyA, onlyB, changed int }

func (c diffCount) total() int { return c.onlyA + c.onlyB + c.changed }

// stateDifference is one customer's differing state of one processor,
// decoded; a or b is nil on the side without the state.
type stateDifference struct {
	partition           int
	customer, processor string
	a, b                *decodedState
}

// stateDiffResult is what diffStates found.
type stateDiffResult struct {
	compared  int // states in A or B
	counts    map[string]*diffCount
	customers int // distinct customers with any difference
	samples   []stateDifference
}

func stateDiff(ctx context.Context, args []string, stdout, stderr io.Writer) (differ bool, err error) {
	fs := newStateFlags("diff", stateDiffUsage, stderr)
	path := configFlag(fs)
	sample := fs.Int("sample", 5, "how many differences to show with both states decoded")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return false, err
	}
	if len(pos) != 2 {
		return false, badArgs(fs, "want two state directories, got %d arguments", len(pos))
	}
	if *sample < 0 {
		return false, fmt.Errorf("--sample: %d is negative", *sample)
	}
	dirA, dirB := pos[0], pos[1]
	if sameDir(dirA, dirB) {
		return false, fmt.Errorf("%s and %s are the same directory", dirA, dirB)
	}
	_, procs, err := loadStateConfig(*path)
	if err != nil {
		return false, err
	}
	a, err := openState("A: ", dirA)
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := openState("B: ", dirB)
	if err != nil {
		return false, err
	}
	defer b.Close()

	res, err := diffStates(ctx, a, b, procs, *sample)
	if err != nil {
		return false, err
	}
	parts, err := diffPartitions(a, b)
	if err != nil {
		return false, err
	}
	if res.customers == 0 && len(parts) == 0 {
		fmt.Fprintf(stdout, "no differences (%d states compared)\n", res.compared)
		return false, nil
	}
	writeDiff(stdout, dirA, dirB, res, parts, procs)
	return true, nil
}

func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// diffStates counts the states that differ between a and b per processor
// (state.DiffStates: one ordered pass over both stores, no point read),
// and decodes the first sampleN differences.
func diffStates(ctx context.Context, a, b *state.Store, procs []journey.Processor, sampleN int) (stateDiffResult, error) {
	res := stateDiffResult{counts: map[string]*diffCount{}}
	byName := map[string]journey.Processor{}
	for _, p := range procs {
		byName[p.Name()] = p
	}
	decode := func(d state.StateDiff, s *state.StoredState) *decodedState {
		if s == nil {
			return nil
		}
		ds := decodeState(d.Processor, byName[d.Processor], s.Version, s.Data)
		return &ds
	}
	lastPart, lastCustomer := -1, ""
	var err error
	res.compared, err = state.DiffStates(ctx, a, b, func(d state.StateDiff) error {
		c := res.counts[d.Processor]
		if c == nil {
			c = &diffCount{}
			res.counts[d.Processor] = c
		}
		switch {
		case d.B == nil:
			c.onlyA++
		case d.A == nil:
			c.onlyB++
		default:
			c.changed++
		}
		if d.Partition != lastPart || d.Customer != lastCustomer {
			res.customers++
			lastPart, lastCustomer = d.Partition, d.Customer
		}
		if len(res.samples) < sampleN {
			res.samples = append(res.samples, stateDifference{partition: d.Partition, customer: d.Customer,
				processor: d.Processor, a: decode(d, d.A), b: decode(d, d.B)})
		}
		return nil
	})
	return res, err
}

// diffPartitions compares each partition's input offsets and number of
// pending timers, and returns one line per difference.
func diffPartitions(a, b *state.Store) ([]string, error) {
	idsA, err := a.PartitionIDs()
	if err != nil {
		return nil, fmt.Errorf("dir A: %w", err)
	}
	idsB, err := b.PartitionIDs()
	if err != nil {
		return nil, fmt.Errorf("dir B: %w", err)
	}
	ids := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(idsA), idsB...))))
	var out []string
	for _, id := range ids {
		inA, inB := slices.Contains(idsA, id), slices.Contains(idsB, id)
		if !inA || !inB {
			side := "A"
			if inB {
				side = "B"
			}
			out = append(out, fmt.Sprintf("partition %d: only in %s", id, side))
			continue
		}
		sa, err := a.Summary(id)
		if err != nil {
			return nil, fmt.Errorf("dir A: %w", err)
		}
		sb, err := b.Summary(id)
		if err != nil {
			return nil, fmt.Errorf("dir B: %w", err)
		}
		if !maps.Equal(sa.Offsets, sb.Offsets) {
			out = append(out, fmt.Sprintf("partition %d: input offsets differ: %s", id, offsetsDiff(sa.Offsets, sb.Offsets)))
		}
		if sa.Timers != sb.Timers {
			out = append(out, fmt.Sprintf("partition %d: pending timers differ: A %d, B %d", id, sa.Timers, sb.Timers))
		}
	}
	return out, nil
}

// offsetsDiff lists the topics whose next offsets differ: "topic A n, B m".
func offsetsDiff(a, b map[string]int64) string {
	topics := slices.Sorted(maps.Keys(a))
	for t := range b {
		if _, ok := a[t]; !ok {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	var parts []string
	show := func(m map[string]int64, t string) string {
		if v, ok := m[t]; ok {
			return strconv.FormatInt(v, 10)
		}
		return "none"
	}
	for _, t := range topics {
		va, okA := a[t]
		vb, okB := b[t]
		if va != vb || okA != okB {
			parts = append(parts, fmt.Sprintf("%s A %s, B %s", t, show(a, t), show(b, t)))
		}
	}
	return strings.Join(parts, "; ")
}

func writeDiff(w io.Writer, dirA, dirB string, res stateDiffResult, parts []string, procs []journey.Processor) {
	fmt.Fprintf(w, "A: %s\nB: %s\n", dirA, dirB)
	if res.customers > 0 {
		fmt.Fprintf(w, "\n%d customers differ (%d states compared)\n\n", res.customers, res.compared)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  processor\tonly in A\tonly in B\tdiffer\ttotal")
		for _, name := range diffOrder(res.counts, procs) {
			c := res.counts[name]
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", name, c.onlyA, c.onlyB, c.changed, c.total())
		}
		_ = tw.Flush()
	}
	if len(parts) > 0 {
		fmt.Fprintln(w)
		for _, l := range parts {
			fmt.Fprintln(w, l)
		}
	}
	if len(res.samples) > 0 {
		fmt.Fprintf(w, "\nthe first %d differences, in key order:\n", len(res.samples))
		for _, d := range res.samples {
			fmt.Fprintf(w, "\n%s  %s  (partition %d)\n", d.customer, d.processor, d.partition)
			fmt.Fprintf(w, "  A: %s\n  B: %s\n", sampleText(d.a), sampleText(d.b))
		}
	}
}

// diffOrder is the configuration's processor order, then any other
// processor by name, keeping those with differences.
func diffOrder(counts map[string]*diffCount, procs []journey.Processor) []string {
	var out []string
	for _, p := range procs {
		if counts[p.Name()] != nil {
			out = append(out, p.Name())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func sampleText(d *decodedState) string {
	switch {
	case d == nil:
		return "(no state)"
	case d.JSON == nil:
		return fmt.Sprintf("(state version %d) %s", d.Version, d.Note)
	}
	return string(d.JSON)
}

// ---- promote

const statePromoteUsage = `Usage: journey state promote --from <replayed dir> --to <live dir>

Makes a finished replay's state directory the live one: renames the live
directory to <live dir>.previous-<UTC time> (kept as a backup), renames
the replayed directory to the live one's name, and prints the input offsets
'journey run' resumes from. Without a live directory, just renames.

It refuses, changing nothing, when:
  - either directory is in use (a running journey run or journey replay);
  - --from was not written by journey replay (no replay manifest), or the
    replay has not finished (run the same journey replay command again);
  - --from still holds undelivered shadow triggers: journey run would send
    them under the live Redis prefix;
  - the two directories are on different filesystems, or either is a mount
    point: a rename would not be atomic;
  - either is a symbolic link (the link would move, not the state).
It warns when the live state still holds undelivered triggers: they stay
in the backup and are not delivered.

Safe procedure:
  1. Replay into a new directory on the same filesystem as the live one:
       journey replay --config journey.yaml --from earliest --state-dir /data/journey-replay
     and run the same command again until it reports it has finished.
  2. Stop every journey run using the live directory (SIGTERM: it commits,
     flushes its outbox for up to outbox.shutdown_flush, and exits; Redis
     must be up for the flush). Nothing is lost while it is stopped: Kafka
     keeps the events.
  3. Compare, and check the differences are the ones you expect:
       journey state diff --config journey.yaml /data/journey-data /data/journey-replay
  4. Promote:
       journey state promote --from /data/journey-replay --to /data/journey-data
  5. Start journey run again on the live directory, with the processor
     configuration the replay used. It resumes from the offsets printed here
     (the state's own, not the consumer group's), so it re-reads what the
     old live state had read past the replay's end.
     Triggers re-emitted for those records carry the ids they had (ids are
     derived from rule, customer and cause) where the rules did not change,
     and Redis drops those already delivered (within redis.dedup_ttl).
  6. Delete the backup once the new state is verified. To roll back: stop
     journey run, move the live directory away and rename the backup to the
     live directory's name.

Flags:
`

func statePromote(args []string, stdout, stderr io.Writer) error {
	fs := newStateFlags("promote", statePromoteUsage, stderr)
	from := fs.String("from", "", "the replayed state directory (required)")
	to := fs.String("to", "", "the live state directory, state.dir of journey run (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return badArgs(fs, "unexpected arguments %q", pos)
	case *from == "" || *to == "":
		return badArgs(fs, "--from and --to are required")
	}
	p, err := planPromotion(filepath.Clean(*from), filepath.Clean(*to), time.Now())
	if err != nil {
		return err
	}
	return p.run(stdout)
}

// promotion is a checked plan to rename from to to, to to backup first.
type promotion struct {
	from, to, backup string
	liveExists       bool
	liveOutbox       int // undelivered outbox entries left in the live state
	manifest         replay.Manifest
	partitions       []state.PartitionSummary // of from
}

// planPromotion checks everything that can be checked before renaming.
func planPromotion(from, to string, now time.Time) (*promotion, error) {
	p := &promotion{from: from, to: to, backup: to + ".previous-" + now.UTC().Format("20060102T150405Z")}
	if sameDir(from, to) {
		return nil, fmt.Errorf("--from and --to are the same directory %s", from)
	}
	fi, err := os.Lstat(from)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	if err := checkIsDir("--from", from, fi); err != nil {
		return nil, err
	}
	switch fi, err := os.Lstat(to); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("--to: %w", err)
	default:
		if err := checkIsDir("--to", to, fi); err != nil {
			return nil, err
		}
		p.liveExists = true
	}
	if _, err := os.Lstat(p.backup); err == nil {
		return nil, fmt.Errorf("the backup name %s is taken; try again in a second", p.backup)
	}
	if err := checkSameFilesystem(from, to, p.liveExists); err != nil {
		return nil, err
	}
	if p.liveExists {
		if err := p.readLive(); err != nil {
			return nil, err
		}
	}
	if err := p.readReplayed(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkIsDir checks that fi, the Lstat of a flag's path, is a directory:
// renaming a symbolic link would move the link, not the state.
func checkIsDir(flagName, path string, fi os.FileInfo) error {
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s %s is a symbolic link: pass the directory it points to (and repoint the link yourself)", flagName, path)
	case !fi.IsDir():
		return fmt.Errorf("%s %s: not a directory", flagName, path)
	}
	return nil
}

// readLive checks the live directory is a state directory nothing uses,
// and counts its undelivered outbox entries.
func (p *promotion) readLive() error {
	s, err := openState("--to: ", p.to)
	if errors.Is(err, state.ErrNoStore) {
		return fmt.Errorf("--to %s exists but holds no state store: move it away first", p.to)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	sums, err := summaries(s)
	if err != nil {
		return fmt.Errorf("--to %s: %w", p.to, err)
	}
	for _, sum := range sums {
		p.liveOutbox += sum.Outbox
	}
	return nil
}

// readReplayed checks the replayed directory holds a finished replay with
// nothing left to deliver, and reads where its partitions resume.
func (p *promotion) readReplayed() error {
	s, err := openState("--from: ", p.from)
	if err != nil {
		return err
	}
	defer s.Close()
	m, found, err := replay.LoadManifest(s)
	switch {
	case err != nil:
		return fmt.Errorf("--from %s: %w", p.from, err)
	case !found:
		return fmt.Errorf("--from %s: no replay manifest: journey replay did not write this directory", p.from)
	case !m.Done():
		return fmt.Errorf("--from %s: the replay has not finished (started %s, runs so far: %d): run the same journey replay command again to finish it",
			p.from, m.Started.Format(time.RFC3339), m.Runs)
	}
	p.manifest = m
	if p.partitions, err = summaries(s); err != nil {
		return fmt.Errorf("--from %s: %w", p.from, err)
	}
	pending := 0
	for _, sum := range p.partitions {
		pending += sum.Outbox
	}
	if pending > 0 {
		return fmt.Errorf("--from %s: %d undelivered outbox entries (shadow triggers and contexts of the replay): journey run would deliver them under the live prefix",
			p.from, pending)
	}
	return nil
}

func summaries(s *state.Store) ([]state.PartitionSummary, error) {
	ids, err := s.PartitionIDs()
	if err != nil {
		return nil, err
	}
	out := make([]state.PartitionSummary, 0, len(ids))
	for _, id := range ids {
		sum, err := s.Summary(id)
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, nil
}

// checkSameFilesystem checks that renaming from to to (and to to its
// backup, next to it) stays within one filesystem: rename(2) is atomic
// only there, and a mount point cannot be renamed.
func checkSameFilesystem(from, to string, liveExists bool) error {
	paths := []string{from, filepath.Dir(from), filepath.Dir(to)}
	if liveExists {
		paths = append(paths, to)
	}
	devs := make([]uint64, len(paths))
	for i, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: cannot tell its filesystem on this platform", path)
		}
		devs[i] = uint64(st.Dev)
	}
	for i, d := range devs[1:] {
		if d != devs[0] {
			return fmt.Errorf("--from %s and %s are on different filesystems (or one is a mount point): a rename would not be atomic; replay into a directory next to the live one",
				from, paths[i+1])
		}
	}
	return nil
}

// run locks both directories, renames them and prints where the new live
// state resumes.
func (p *promotion) run(stdout io.Writer) error {
	// Hold both locks across the renames, so that no journey opens either
	// directory half way. A lock stays with its directory when renamed.
	if p.liveExists {
		unlock, err := lockState("--to: ", p.to)
		if err != nil {
			return err
		}
		defer unlock()
	}
	unlock, err := lockState("--from: ", p.from)
	if err != nil {
		return err
	}
	defer unlock()

	if p.liveExists {
		if err := os.Rename(p.to, p.backup); err != nil {
			return fmt.Errorf("nothing changed: %w", err)
		}
	}
	if err := os.Rename(p.from, p.to); err != nil {
		if p.liveExists {
			if rerr := os.Rename(p.backup, p.to); rerr != nil {
				return fmt.Errorf("%w; and putting the live state back failed too: %v: it is in %s", err, rerr, p.backup)
			}
		}
		return fmt.Errorf("nothing changed: %w", err)
	}
	p.report(stdout)
	// Make the renames durable: they are entries of the parent directories.
	if err := errors.Join(syncDir(filepath.Dir(p.to)), syncDir(filepath.Dir(p.from))); err != nil {
		return fmt.Errorf("promoted, but the renames may not survive a machine crash: %w", err)
	}
	return nil
}

func lockState(flagName, dir string) (func(), error) {
	l, err := state.LockDir(dir)
	switch {
	case errors.Is(err, state.ErrInUse):
		return nil, fmt.Errorf("%sstate dir %s is in use by another process (a running journey?)", flagName, dir)
	case err != nil:
		return nil, fmt.Errorf("%s%w", flagName, err)
	}
	return func() { _ = l.Close() }, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func (p *promotion) report(w io.Writer) {
	fmt.Fprintf(w, "promoted %s -> %s (replay from %s, finished %s)\n",
		p.from, p.to, p.manifest.From, p.manifest.Completed.Format(time.RFC3339))
	if p.liveExists {
		fmt.Fprintf(w, "the previous live state is kept in %s: delete it once the new state is verified\n", p.backup)
		if p.liveOutbox > 0 {
			fmt.Fprintf(w, "WARNING: the previous live state held %d undelivered outbox entries (triggers, context updates); they stay in the backup and will not be delivered\n",
				p.liveOutbox)
		}
	}
	fmt.Fprintln(w, "\nthe new live state resumes from (next offset to read):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  topic\tpartition\toffset")
	n := 0
	for _, sum := range p.partitions {
		for _, topic := range slices.Sorted(maps.Keys(sum.Offsets)) {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", topic, sum.ID, sum.Offsets[topic])
			n++
		}
	}
	_ = tw.Flush()
	if n == 0 {
		fmt.Fprintln(w, "  (no offsets: the replay read nothing; journey run starts at kafka.start_offset)")
	}
	fmt.Fprintf(w, "\njourney run with state.dir %s resumes from these offsets (the state's own, not the consumer group's).\n", p.to)
}
