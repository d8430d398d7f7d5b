package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/pipeline"
)

const topicsUsage = `journey topics - %s

Usage: journey topics <create|check> [flags]

Creates or checks the Kafka topics a configuration names: the input topics
(kafka.topics), the dead-letter topic (kafka.dlq_topic) and the changelog
topic (changelog.topic, default <kafka.group_id>.changelog). The input
topics and the changelog must be co-partitioned: the same partition count.

Subcommands:
  create  create the missing ones: with --partitions partitions (default: the
          count of the existing input topics, else %d), the dead-letter and
          changelog topics as 'journey run' would create them. Refuses, creating
          nothing, when existing topics are not co-partitioned or have another
          count than --partitions. Running it again creates nothing.
  check   print each topic's partition count; exit 1 when an input topic is
          missing or the topics are not co-partitioned ('journey run' would
          refuse to start)

Run 'journey topics <subcommand> -h' for its flags.
`

// runTopics is `journey topics`.
func runTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "journey topics: missing subcommand: create or check\n%s\n", helpHint("topics"))
		return exitStatus(exitUsage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(stdout, topicsUsage, summaryOf("topics"), pipeline.DefaultTopicPartitions)
		return nil
	case "create":
		return topicsCreate(ctx, args[1:], stdout, stderr)
	case "check":
		return topicsCheck(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "journey topics: unknown subcommand %q\n%s\n", args[0], helpHint("topics"))
	return exitStatus(exitUsage)
}

func topicsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags(help{
		name:    "topics create",
		summary: "create the configuration's missing topics, co-partitioned",
		text: `Creates the topics of the configuration that do not exist (see 'journey
topics -h') and prints every topic with its partition count and whether it
was created or existed. Each request to the brokers times out after
kafka.dial_timeout.`,
		groups: []flagGroup{{"Topics", []string{"partitions", "replication-factor"}}},
	}, stdout, stderr)
	var opts pipeline.TopicsOptions
	f.IntVar(&opts.Partitions, "partitions", 0, fmt.Sprintf(
		"partitions of the topics created (0: the existing input topics' count, else %d)", pipeline.DefaultTopicPartitions))
	f.IntVar(&opts.ReplicationFactor, "replication-factor", 0, "replication factor of the topics created (0: the brokers' default.replication.factor)")
	cfg, err := loadConfig(f, args)
	if err != nil {
		return err
	}
	if opts.Partitions < 0 || opts.ReplicationFactor < 0 {
		return f.usageError("--partitions and --replication-factor must be positive")
	}
	pc, err := app.SecurePipelineConfig(cfg)
	if err != nil {
		return err
	}
	ts, err := pipeline.CreateTopics(ctx, pc, zap.NewNop(), opts)
	if err != nil {
		return err
	}
	if err := printTopics(stdout, ts); err != nil {
		return err
	}
	created := 0
	for _, t := range ts {
		if t.Created {
			created++
		}
	}
	switch created {
	case 0:
		fmt.Fprintln(stdout, "every topic exists; nothing created")
	default:
		fmt.Fprintf(stdout, "created %d of %d topics\n", created, len(ts))
	}
	return nil
}

func topicsCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags(help{
		name:    "topics check",
		summary: "print the configuration's topics; fail unless journey run can start on them",
		text: `Prints every topic of the configuration with its partition count; exits 1
when an input topic is missing or the topics are not co-partitioned. Each
request to the brokers times out after kafka.dial_timeout.`,
	}, stdout, stderr)
	cfg, err := loadConfig(f, args)
	if err != nil {
		return err
	}
	pc, err := app.SecurePipelineConfig(cfg)
	if err != nil {
		return err
	}
	ts, err := pipeline.CheckTopics(ctx, pc, zap.NewNop(), 0)
	if ts != nil {
		if perr := printTopics(stdout, ts); perr != nil {
			return perr
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "co-partitioned; 'journey run' can start")
	return nil
}

// printTopics prints one line per topic: name, role, partition count and
// whether it exists or was just created.
func printTopics(w io.Writer, ts []pipeline.TopicStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tROLE\tPARTITIONS\tSTATUS")
	for _, t := range ts {
		status, n := "exists", fmt.Sprint(t.Partitions)
		switch {
		case t.Created:
			status = "created"
		case t.Partitions == 0:
			status, n = "missing", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Role, n, status)
	}
	return tw.Flush()
}
