package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
)

// stateDiffHelp is journey state diff -h's text above the flags.
var stateDiffHelp = help{
	name:    "state diff",
	args:    "[--config file] [--sample N] <dir A> <dir B>",
	summary: "compare two state directories (exit 0 identical, 1 different, 2 trouble)",
	text: `Compares two state directories (a live one and a replay's, say) in one
ordered pass over both: per processor, how many customers' states are only
in A, only in B, or differ; a sample of the differences with both states
decoded; and per partition, the input offsets and the number of pending
timers. Exits 0 when they are identical ("no differences"), 1 when they
differ, 2 on trouble, like diff(1).

Neither directory may be in use: stop journey first.`,
}

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
	fs := newFlags(stateDiffHelp, stdout, stderr)
	path := configFlag(fs.FlagSet)
	sample := fs.Int("sample", 5, "how many differences to show with both states decoded")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return false, err
	}
	if len(pos) != 2 {
		return false, fs.usageError("want two state directories, got %d arguments", len(pos))
	}
	if *sample < 0 {
		return false, fs.usageError("--sample: %d is negative", *sample)
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
