package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
)

// stateGetHelp is journey state get -h's text above the flags.
var stateGetHelp = help{
	name:    "state get",
	args:    "[--state-dir dir] [--config file] [--json] <customer id>",
	summary: "print one customer's journey: each processor's state, pending timers, watermark and offsets",
	text: `Prints what the state directory holds of one customer: each processor's
state (decoded by the configuration's processors), the customer's pending
timers, and the partition's watermark and input offsets. With --json, one
JSON object per partition holding the customer (normally one). Exits 1
when the directory holds nothing of the customer. With
privacy.pseudonymize_ids, give the real id (or the pseudonym).

The directory must not be in use (Pebble locks it): stop journey first.`,
}

func stateGet(args []string, stdout, stderr io.Writer) error {
	fs := newFlags(stateGetHelp, stdout, stderr)
	dir := fs.String("state-dir", "", "state directory (default: state.dir of --config, else journey-data) [$JOURNEY_STATE_DIR]")
	path := configFlag(fs.FlagSet)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usageError("want one customer id, got %d arguments", len(pos))
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
	ps, err := app.Pseudonyms(cfg)
	if err != nil {
		return err
	}
	stored := ps.ID(customer)
	found, err := store.Customer(stored)
	if err == nil && len(found) == 0 && ps != nil {
		stored = customer // a pseudonym, as triggers carry it
		found, err = store.Customer(stored)
	}
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
		view := newCustomerView(stored, cs, sum, procs)
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

// writeTree writes a state's JSON as YAML, each line after indent: block
// style indented by two spaces, lists of scalars on one line, object keys
// in the JSON's order (the state struct's field order). JSON is YAML's flow
// style, so go-yaml parses it into nodes and re-emits them in block style.
// JSON it cannot read is written as it is.
func writeTree(w io.Writer, data []byte, indent string) {
	var doc yaml.Node
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	err := yaml.Unmarshal(data, &doc)
	if err == nil {
		blockStyle(&doc)
		err = errors.Join(enc.Encode(&doc), enc.Close())
	}
	if err != nil {
		fmt.Fprintf(w, "%s%s\n", indent, data)
		return
	}
	for line := range strings.Lines(out.String()) {
		fmt.Fprintf(w, "%s%s", indent, line)
	}
}

// blockStyle drops the flow style and quotes n and its descendants were
// parsed with, except that a list of scalars stays on one line ([a, b]).
// The encoder then quotes only the strings YAML would misread. A string
// holding a timestamp is tagged as one, so it is written plain, not quoted
// as a string that looks like a timestamp.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	switch n.Kind {
	case yaml.ScalarNode:
		if _, err := time.Parse(time.RFC3339Nano, n.Value); err == nil && n.Tag == "!!str" {
			n.Tag = "!!timestamp"
		}
	case yaml.SequenceNode:
		if !slices.ContainsFunc(n.Content, func(c *yaml.Node) bool { return c.Kind != yaml.ScalarNode }) {
			n.Style = yaml.FlowStyle
		}
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
