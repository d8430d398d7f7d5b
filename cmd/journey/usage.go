package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/journey-dev/journey/pkg/config"
)

// Every command's flags go through cmdFlags, so that all of them behave
// alike (the usage-error convention):
//
//   - `journey <cmd> -h` (or --help) prints the command's help to stdout
//     and exits 0: a one-line summary, the usage line, the command's text,
//     then every flag with its type and default under headings;
//   - a bad flag or argument prints one line naming it and one line
//     "run 'journey <cmd> -h' for help" to stderr, and exits 2.
//
// A command is given help in one call:
//
//	f := newFlags(help{name: "topics create", args: "[flags]", groups: ...}, stdout, stderr)
//	n := f.Int("partitions", 4, "partitions of each topic created")
//	if err := f.parse(args); err != nil {
//		return err // flag.ErrHelp or exitStatus(2): dispatch exits 0 or 2
//	}

// help is what `journey <name> -h` prints besides the flags themselves.
type help struct {
	name string // the command as typed after journey: "run", "state get"
	// args is the usage line after the command's name ("[flags]" when
	// empty): "--from <where> --state-dir <dir> [flags]".
	args string
	// summary is one line; empty takes the command list's (commands()).
	summary string
	// text is optional paragraphs printed after the usage line.
	text string
	// groups are the headings of the flags, in order. A flag in no group is
	// listed last under "Flags:"; without groups every flag is.
	groups []flagGroup
}

// flagGroup is one heading of a command's flags, in the order shown.
type flagGroup struct {
	title string
	flags []string
}

// cmdFlags is a command's flag set and its help.
type cmdFlags struct {
	*flag.FlagSet
	help           help
	stdout, stderr io.Writer
}

// newFlags returns the flag set of `journey <h.name>`. Its Usage prints
// the help to stdout; parse it with parse or parseArgs.
func newFlags(h help, stdout, stderr io.Writer) *cmdFlags {
	f := &cmdFlags{FlagSet: flag.NewFlagSet(h.name, flag.ContinueOnError), help: h, stdout: stdout, stderr: stderr}
	f.SetOutput(io.Discard) // parse reports errors itself, in one line
	f.Usage = func() { f.writeHelp(f.stdout) }
	return f
}

// group adds a heading for flags defined on f (after those already given).
func (f *cmdFlags) group(title string, flags ...string) {
	f.help.groups = append(f.help.groups, flagGroup{title, flags})
}

// parse parses args, which must hold flags only. It returns flag.ErrHelp
// after printing the help for -h, exitStatus(2) after reporting a bad
// flag or an argument, else nil.
func (f *cmdFlags) parse(args []string) error {
	rest, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return f.usageError("unexpected arguments %q", rest)
	}
	return nil
}

// parseArgs parses flags wherever they stand among the positional
// arguments (`state get c-42 --json`) and returns the positional ones;
// everything after "--" is positional. Errors are parse's.
func (f *cmdFlags) parseArgs(args []string) ([]string, error) {
	var pos []string
	for {
		rest, err := f.parseOne(args)
		if err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseOne is one flag.FlagSet.Parse, reporting its error our way: the
// flag package would print the error, then the whole usage.
func (f *cmdFlags) parseOne(args []string) ([]string, error) {
	usage := f.Usage
	f.Usage = func() {}
	err := f.Parse(args)
	f.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.Usage()
		return nil, flag.ErrHelp
	case err != nil:
		return nil, f.usageError("%s", f.flagError(err))
	}
	return f.Args(), nil
}

// flagName finds the flag a flag package error names ("-brokerz").
var flagName = regexp.MustCompile(`(defined: |flag |for |argument: )-([A-Za-z0-9][-\w.]*)`)

// flagError rewords a flag package error as the help spells flags: with
// two dashes, and "parse error" said as what the value is not:
// `invalid value "abc" for flag --standbys: not an integer`.
func (f *cmdFlags) flagError(err error) string {
	msg := err.Error()
	m := flagName.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	msg = flagName.ReplaceAllString(msg, "${1}--${2}")
	if fl := f.Lookup(m[2]); fl != nil && strings.HasSuffix(msg, ": parse error") {
		typ, _ := flag.UnquoteUsage(fl)
		want := map[string]string{"int": "an integer", "uint": "a non-negative integer", "float": "a number",
			"duration": "a duration (e.g. 10s, 1m)", "": "true or false"}[typ]
		if want != "" {
			msg = strings.TrimSuffix(msg, "parse error") + "not " + want
		}
	}
	return msg
}

// usageError reports a bad command line, one line and the hint, on stderr
// and returns exitStatus(2) for the command to return.
func (f *cmdFlags) usageError(format string, args ...any) error {
	fmt.Fprintf(f.stderr, "journey %s: %s\n", f.help.name, fmt.Sprintf(format, args...))
	fmt.Fprintln(f.stderr, helpHint(f.help.name))
	return exitStatus(2)
}

// helpHint is the line after a usage error: where to read the help.
func helpHint(name string) string {
	if name == "" {
		return "run 'journey -h' for help"
	}
	return fmt.Sprintf("run 'journey %s -h' for help", name)
}

// summaryOf returns the command list's summary of a command.
func summaryOf(name string) string {
	for _, c := range commands() {
		if c.name == name {
			return c.summary
		}
	}
	return ""
}

// helpWidth is where the help wraps its lines.
const helpWidth = 100

// writeHelp prints the help: summary, usage line, text, flags by heading.
func (f *cmdFlags) writeHelp(w io.Writer) {
	h := f.help
	summary := h.summary
	if summary == "" {
		summary = summaryOf(h.name)
	}
	args := h.args
	if args == "" {
		args = "[flags]"
		if !f.hasFlags() {
			args = ""
		}
	}
	fmt.Fprintf(w, "journey %s - %s\n\n", h.name, summary)
	fmt.Fprintln(w, strings.TrimRight("Usage: journey "+h.name+" "+args, " "))
	if h.text != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(h.text, "\n"))
	}
	groups := f.groups()
	col := 0
	for _, g := range groups {
		for _, fl := range g.flags {
			col = max(col, len(flagLeft(fl)))
		}
	}
	col = min(col+2, 28)
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, fl := range g.flags {
			writeFlag(w, fl, col)
		}
	}
}

func (f *cmdFlags) hasFlags() bool {
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// resolvedGroup is a heading and its flags, looked up.
type resolvedGroup struct {
	title string
	flags []*flag.Flag
}

// groups returns the headings with their flags; flags in no heading come
// last, by name, under "Flags". A name in a heading that is not a flag of
// the set is a programming error: the help test finds it.
func (f *cmdFlags) groups() []resolvedGroup {
	var out []resolvedGroup
	listed := map[string]bool{}
	for _, g := range f.help.groups {
		rg := resolvedGroup{title: g.title}
		for _, name := range g.flags {
			fl := f.Lookup(name)
			if fl == nil {
				panic(fmt.Sprintf("journey %s: help lists --%s, which is not a flag", f.help.name, name))
			}
			if !listed[name] {
				rg.flags = append(rg.flags, fl)
				listed[name] = true
			}
		}
		if len(rg.flags) > 0 {
			out = append(out, rg)
		}
	}
	rest := resolvedGroup{title: "Flags"}
	f.VisitAll(func(fl *flag.Flag) { // in name order
		if !listed[fl.Name] {
			rest.flags = append(rest.flags, fl)
		}
	})
	if len(rest.flags) > 0 {
		if len(out) > 0 {
			rest.title = "Other flags"
		}
		out = append(out, rest)
	}
	return out
}

// flagLeft is a flag's name and type: "--brokers list"; a bool flag has
// no type word (--changelog alone sets it, --changelog=false clears it).
func flagLeft(fl *flag.Flag) string {
	typ, _ := flag.UnquoteUsage(fl)
	if typ == "" {
		return "--" + fl.Name
	}
	return "--" + fl.Name + " " + typ
}

// writeFlag prints one flag: its name and type, then its usage and
// default wrapped in a column. The default is never split over two lines.
func writeFlag(w io.Writer, fl *flag.Flag, col int) {
	typ, usage := flag.UnquoteUsage(fl)
	words := strings.Fields(usage)
	if def := defaultText(fl, typ); def != "" {
		words = append(words, def)
	}
	left := "  " + flagLeft(fl)
	indent := strings.Repeat(" ", col+2)
	line := left
	if len(left) >= col+2 {
		fmt.Fprintln(w, left)
		line = indent
	} else {
		line += strings.Repeat(" ", col+2-len(left))
	}
	start := true
	for _, word := range words {
		if !start && len(line)+1+len(word) > helpWidth {
			fmt.Fprintln(w, line)
			line, start = indent, true
		}
		if !start {
			line += " "
		}
		line += word
		start = false
	}
	fmt.Fprintln(w, line)
}

// defaultText is "(default X)" for a flag whose default says something:
// every number and duration, a non-empty string (quoted), a true bool.
func defaultText(fl *flag.Flag, typ string) string {
	switch {
	case typ == "string" || typ == "list":
		if fl.DefValue == "" {
			return ""
		}
		return fmt.Sprintf("(default %q)", fl.DefValue)
	case isBool(fl):
		if fl.DefValue != "true" {
			return ""
		}
	}
	return fmt.Sprintf("(default %s)", fl.DefValue)
}

func isBool(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// configGroups are the headings of the flags loadConfig defines: --config,
// then the settings by section of the file.
func configGroups() []flagGroup {
	gs := []flagGroup{{"Config", []string{"config"}}}
	for _, g := range config.FlagGroups() {
		gs = append(gs, flagGroup{sectionTitle(g.Section), g.Flags})
	}
	return gs
}

// sectionTitle is the heading of a configuration section's flags.
func sectionTitle(section string) string {
	switch section {
	case "log":
		return "Logging"
	case "api":
		return "API"
	case "processors_enabled":
		return "Processors"
	}
	return strings.ToUpper(section[:1]) + section[1:]
}
