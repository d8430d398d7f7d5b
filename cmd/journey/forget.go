package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/pipeline"
)

var forgetHelp = help{
	name: "forget",
	args: "--config FILE [--wait] [--timeout 60s] [--pseudonymous] ID...",
	text: `Erases customers for good: asks the instance owning each id to erase, in
one commit with its offsets, every processor's state (held triggers
included), the identity entry, the timers, journey:ctx:<id>, its entries
in the journey:triggers:* streams and their journey:tid:* keys — and the
same for every id linked to it (a user id's anonymous ids, or the
customer a linked id belongs to). A keyed hash of each erased id is kept
(privacy.secret_file), so its later events are dropped before the fold
(journey_forgotten_events_total).

The requests travel on the repartition topic (identity.topic), so identity
routing must be on. The command returns once they are written, and the
erase follows in the owning partition's next round; with --wait, once the
consumer group has committed the requests and then the forgets forwarded
to linked ids (exit 1 after --timeout). Triggers and context updates
still waiting in the outbox are dropped. Not erased: records in Kafka
topics (until their retention; ingest.dlq_redact keeps values out of the
dead-letter topic). The API's POST /v1/customers/{id}/forget does the
same for one id. With privacy.pseudonymize_ids, give the real ids (journey
hashes them), or their pseudonyms with --pseudonymous.`,
}

// runForget is `journey forget`.
func runForget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags(forgetHelp, stdout, stderr)
	wait := f.Bool("wait", false, "wait until the owning partitions have committed the erase")
	timeout := f.Duration("timeout", time.Minute, "with --wait, how long to wait")
	pseudonymous := f.Bool("pseudonymous", false, "with privacy.pseudonymize_ids: the ids given are pseudonyms (as triggers carry them), not real ids")
	cfg, ids, err := loadConfigArgs(f, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return f.usageError("want at least one customer id")
	}
	pc, err := app.SecurePipelineConfig(cfg)
	if err != nil {
		return err
	}
	if ps := pc.Privacy.Pseudonyms; ps != nil && !*pseudonymous {
		for i := range ids {
			ids[i] = ps.ID(ids[i])
		}
	}
	req, err := pipeline.Forget(ctx, pc, zap.NewNop(), ids)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "forget requested for %d id(s) on %s\n", len(ids), pc.Identity.Topic)
	if !*wait {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	erased, err := req.Wait(wctx)
	printErasures(stdout, erased, pc, cfg.Redis.Prefix)
	if err != nil {
		return fmt.Errorf("--wait: %w", err)
	}
	if erased == nil { // instances without a forget ledger: offsets only
		fmt.Fprintln(stdout, "erased: every partition has committed the requests")
	}
	return nil
}

// printErasures prints what was erased for each id, store by store.
func printErasures(w io.Writer, es []pipeline.Erasure, pc pipeline.Config, prefix string) {
	for _, e := range es {
		switch {
		case !e.Done:
			fmt.Fprintf(w, "%s: not confirmed yet\n", e.ID)
		case e.Already && e.IDs == 0:
			fmt.Fprintf(w, "%s: forgotten before; nothing left to erase\n", e.ID)
		default:
			states := "no processor state"
			if len(e.States) > 0 {
				states = "the state of " + strings.Join(e.States, ", ")
			}
			fmt.Fprintf(w, "%s: erased %d id(s) (it and the ids linked to it) on partition(s) %v\n", e.ID, e.IDs, e.Partitions)
			fmt.Fprintf(w, "  state store: %s, the identity entries, %d pending timer(s); held triggers and undelivered outbox entries dropped\n", states, e.Timers)
			if pc.Changelog.Topic != "" {
				fmt.Fprintf(w, "  changelog %s: tombstones for all of it (standbys and restores drop it)\n", pc.Changelog.Topic)
			}
			fmt.Fprintf(w, "  redis: %[1]sctx:<id> of each id, its entries in the %[1]striggers:* streams and their %[1]stid:* keys deleted\n", prefix)
			fmt.Fprintf(w, "  forgotten for good: a keyed hash of each id is kept (%s) so that later and replayed events are dropped\n", pc.Identity.ForgottenTopic)
		}
	}
}
