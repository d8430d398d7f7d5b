package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/journey-dev/journey/pkg/api"
	"github.com/journey-dev/journey/pkg/config"
	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
)

// `journey state`: the dispatcher and what its subcommands share. Each
// subcommand has a file of its own: stateget.go, statediff.go,
// statepromote.go, staterestore.go.

const stateUsage = `journey state - inspect, compare, promote and restore state directories

Usage: journey state <subcommand> [flags] [arguments]

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

// stateMain runs `journey state` and returns its exit status.
func stateMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "journey state: missing subcommand: get, diff, promote or restore\n%s\n", helpHint("state"))
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
	fmt.Fprintf(stderr, "journey state: unknown subcommand %q\n%s\n", args[0], helpHint("state"))
	return exitUsage
}

// status reports err (if any) and returns the exit status: 0 for none or
// -h, exitUsage for a bad command line (already reported), else code.
func status(stderr io.Writer, sub string, err error, code int) int {
	var st exitStatus
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &st):
		return int(st)
	}
	fmt.Fprintf(stderr, "journey state %s: %v\n", sub, err)
	return code
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
	procs, err := processors.BuildWithRules(cfg.Processors, &cfg.Rules, nil)
	if err != nil {
		return cfg, nil, config.InFile(path, err)
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

// decodedState is one processor's stored state of a customer, decoded.
// decodedState is a stored state decoded for display (the API shows
// states the same way).
type decodedState = api.Decoded

// decodeState decodes a stored state with p (nil: a processor the
// configuration does not have); see api.Decode.
func decodeState(name string, p journey.Processor, version uint32, data []byte) decodedState {
	return api.Decode(name, p, version, data)
}

// sameDir reports whether a and b name one existing directory (diff and
// promote refuse that).
func sameDir(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}
