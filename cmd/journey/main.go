// Command journey is the customer-journey processor: one binary with
// subcommands. It only parses flags, wires packages together and runs them;
// the logic lives under pkg/ and processors/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is the explicit list of subcommands, in the order help shows them.
func commands() []command {
	return []command{
		{"run", "run the processor: consume Kafka, fold into Pebble, publish triggers to Redis", runRun},
		{"dev", "everything in one process: in-process Kafka and Redis, synthetic customers, live triggers", runDev},
		{"topics", "create the Kafka topics a configuration names, or check they are co-partitioned", runTopics},
		{"generate", "produce synthetic omnichannel customer events to a Kafka topic", runGenerate},
		{"health", "check a journey admin endpoint (/readyz by default): the container healthcheck", runHealth},
		{"forget", "erase customers: their state, identity links, timers and context hashes, for good", runForget},
		{"replay", "rebuild state from the topics' history into a new state dir; backtest rules in shadow streams", runReplay},
		{"state", "inspect, compare, promote and restore state directories (get, diff, promote, restore)", runState},
		{"version", "print the version and build information", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			var status exitStatus
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp):
			case errors.As(err, &status):
				return int(status) // the command printed its own message
			default:
				fmt.Fprintf(stderr, "journey %s: %v\n", c.name, err)
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "journey: unknown command %q\n%s\n", args[0], helpHint(""))
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "journey: real-time customer-journey processor (Kafka -> Pebble -> Redis)")
	fmt.Fprintln(w, "\nUsage: journey <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'journey <command> -h' for a command's flags.")
}

// exitStatus is an error a command returns when it has printed its own
// message and wants the process to exit with this status (2 for a usage
// error, cmdFlags.usageError). A command returns flag.ErrHelp when it has
// printed its help: the process exits 0.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
