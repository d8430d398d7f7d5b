package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/journey-dev/journey/pkg/generate"
)

// failover is one failover measurement: a group of instances with a given
// number of standbys, one of them killed with SIGKILL.
type failover struct {
	Standbys       int     `json:"standbys"`
	Instances      int     `json:"instances"`
	Group          string  `json:"group"`
	SessionTimeout float64 `json:"session_timeout_seconds"`
	// Events is what the input topic held when the group started (the bulk,
	// plus the paced streams of the groups before); CatchUp the time from
	// starting the instances to the group's committed offsets reaching it.
	Events  int64   `json:"events"`
	CatchUp float64 `json:"catch_up_seconds"`
	Victim  string  `json:"killed"`
	Moved   []int   `json:"moved_partitions"`
	// Times from the SIGKILL: to the first change in a survivor's /readyz
	// (its generation ended or a new one began), and to every partition
	// ready on the survivors.
	Noticed float64 `json:"kill_to_rebalance_seconds"`
	Ready   float64 `json:"kill_to_ready_seconds"`
	// RestoreRejoin is Ready less the session timeout: what is not the
	// broker's wait for the dead member.
	RestoreRejoin float64 `json:"ready_minus_session_timeout_seconds"`
	// AfterNoticed is Ready less Noticed: the survivors' generation change,
	// rejoin and restore, without the wait for the broker to notice.
	AfterNoticed float64 `json:"rebalance_to_ready_seconds"`
	// Restored is what the survivors' /readyz reported restored for the
	// moved partitions when they were ready; RestoredActive the growth of
	// their journey_changelog_restored_records_total{role="active"} over
	// the failover (every partition); MovedLog the moved partitions'
	// changelog records (end − start) just after the kill.
	Restored       int64 `json:"restored_moved_partitions"`
	RestoredActive int64 `json:"restored_active_metric"`
	MovedLog       int64 `json:"moved_changelog_records"`
	// StandbyCopies counts the survivors' standby copies of the moved
	// partitions at the kill (/readyz).
	StandbyCopies int                   `json:"standby_copies_of_moved"`
	Polls         int                   `json:"readyz_polls"`
	Paced         paced                 `json:"paced_producer"`
	Logs          map[string]logSummary `json:"logs"`
	// Problem says why the failover did not complete (the partitions not
	// ready in time, with the survivors' last /readyz).
	Problem string `json:"problem,omitempty"`
}

// paced is the producer that runs through the failover.
type paced struct {
	Rate     float64 `json:"events_per_second"`
	Achieved float64 `json:"achieved_events_per_second"`
	Events   int     `json:"events"`
}

// runFailover starts the group's instances on an empty input topic of
// their own, waits until they have shared its partitions out, produces the
// workload to it (the same events as the restore phase's topic) and waits
// until the group has committed all of it: so no survivor holds a copy of
// another instance's partitions but through a standby. Then it starts the
// paced producer, lets it run for -steady, kills the last instance and
// polls the survivors' /readyz until every partition is ready on one of
// them.
func (b *bench) runFailover(ctx context.Context, standbys int) (failover, error) {
	o := b.opts
	f := failover{Standbys: standbys, Instances: o.instances, SessionTimeout: o.sessionTimeout.Seconds(), Logs: map[string]logSummary{}}
	label := fmt.Sprintf("standbys%d", standbys)
	topic := fmt.Sprintf("scale.events.%s.%s", b.stamp, label)
	if err := b.cluster.create(ctx, topic, o.partitions); err != nil {
		return f, err
	}
	g, err := b.newGroup(ctx, label, topic)
	if err != nil {
		return f, err
	}
	f.Group = g.name
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.kill()
			f.Logs[p.name] = summariseLog(p.logPath)
		}
	}()
	for i := range o.instances {
		p, err := b.startRun(ctx, g, fmt.Sprintf("instance%d", i+1), standbys)
		if err != nil {
			return f, err
		}
		procs = append(procs, p)
	}
	if err := b.waitShared(ctx, procs); err != nil {
		return f, err
	}
	b.logf("%d instances, --standbys %d, share the %d partitions; producing %d events to %s...", o.instances, standbys,
		o.partitions, o.events, topic)
	start := time.Now()
	if _, err := produceBulk(ctx, o.brokers, topic, o.seed, o.customers, o.events); err != nil {
		return f, err
	}
	_, ends, err := b.cluster.span(ctx, topic, o.partitions)
	if err != nil {
		return f, err
	}
	for _, e := range ends {
		f.Events += e
	}
	if err := b.waitCaughtUp(ctx, g, ends, procs); err != nil {
		return f, err
	}
	f.CatchUp = time.Since(start).Seconds()
	b.logf("caught up %.1fs after the first event was produced; paced producer at %d events/s for %s, then SIGKILL", f.CatchUp,
		o.rate, o.steady)

	pctx, stopProducer := context.WithCancel(ctx)
	defer stopProducer()
	producer := make(chan paced, 1)
	go func() {
		st, err := generate.Produce(pctx, generate.ProduceConfig{
			Brokers: o.brokers, Topic: topic, Rate: float64(o.rate),
			Generator: generate.Config{Customers: o.customers, Seed: o.seed + 100 + uint64(standbys)},
		})
		if err != nil {
			b.logf("paced producer: %v", err)
		}
		producer <- paced{Rate: float64(o.rate), Achieved: st.Achieved(), Events: st.Events}
	}()
	select {
	case <-ctx.Done():
		return f, ctx.Err()
	case <-time.After(o.steady):
	}

	victim, survivors := procs[len(procs)-1], procs[:len(procs)-1]
	before := map[*proc]readiness{}
	for _, p := range procs {
		if before[p], err = p.readyz(ctx); err != nil {
			return f, err
		}
	}
	f.Victim, f.Moved = victim.name, before[victim].readyPartitions()
	if len(f.Moved) == 0 {
		return f, fmt.Errorf("%s processes no partition before the kill: %s", victim.name, jsonOf(before[victim]))
	}
	activeBefore := map[*proc]float64{}
	for _, p := range survivors {
		m, err := p.metrics(ctx)
		if err != nil {
			return f, err
		}
		activeBefore[p] = m.sum("journey_changelog_restored_records_total", "role", "active")
		for _, id := range f.Moved {
			if _, ok := before[p].Detail.Standbys[id]; ok {
				f.StandbyCopies++
			}
		}
	}

	killed := time.Now()
	victim.kill()
	// What a survivor without a copy has to restore: the moved partitions'
	// changelogs as the dead instance left them.
	if first, end, err := b.cluster.span(ctx, g.changelog, o.partitions); err == nil {
		for _, id := range f.Moved {
			f.MovedLog += end[id] - first[id]
		}
	}
	last := map[*proc]readiness{}
	var noticed, ready time.Time
	err = poll(ctx, o.readyTimeout, o.pollEvery, func() (bool, error) {
		f.Polls++
		covered := map[int]bool{}
		all := true
		for _, p := range survivors {
			if err := p.alive(); err != nil {
				return false, err
			}
			r, err := p.readyz(ctx)
			if err != nil {
				all = false
				continue
			}
			last[p] = r
			ids := r.readyPartitions()
			if noticed.IsZero() && (!r.Ready || !slices.Equal(ids, before[p].readyPartitions())) {
				noticed = time.Now()
			}
			all = all && r.Ready
			for _, id := range ids {
				covered[id] = true
			}
		}
		if all && len(covered) == o.partitions {
			ready = time.Now()
			return true, nil
		}
		return false, nil
	})
	if err != nil && ctx.Err() == nil {
		var detail []string
		for _, p := range survivors {
			detail = append(detail, p.name+" "+jsonOf(last[p]))
		}
		f.Problem = fmt.Sprintf("after the kill, not every partition was ready on the survivors within %s (%v); last /readyz: %s",
			o.readyTimeout, err, strings.Join(detail, "; "))
		b.logf("PROBLEM: %s", f.Problem)
		stopProducer()
		f.Paced = <-producer
		return f, nil
	}
	if err != nil {
		return f, err
	}
	f.Ready = ready.Sub(killed).Seconds()
	f.RestoreRejoin = f.Ready - f.SessionTimeout
	if !noticed.IsZero() {
		f.Noticed = noticed.Sub(killed).Seconds()
		f.AfterNoticed = ready.Sub(noticed).Seconds()
	}
	for _, p := range survivors {
		for _, id := range f.Moved {
			if st, ok := last[p].Detail.Partitions[id]; ok {
				f.Restored += st.Restored
			}
		}
		if m, err := p.metrics(ctx); err == nil {
			f.RestoredActive += int64(m.sum("journey_changelog_restored_records_total", "role", "active") - activeBefore[p])
		}
	}
	stopProducer()
	f.Paced = <-producer
	b.logf("kill -> rebalance noticed %.2fs, -> every partition ready %.2fs (session timeout %s); %d records restored for partitions %v "+
		"(their changelogs hold %d)", f.Noticed, f.Ready, o.sessionTimeout, f.Restored, f.Moved, f.MovedLog)
	for _, p := range survivors {
		if err := p.stop(90 * time.Second); err != nil {
			return f, err
		}
	}
	return f, nil
}

// waitShared waits until every instance is ready with partitions of its
// own and together they process every partition.
func (b *bench) waitShared(ctx context.Context, procs []*proc) error {
	var last []string
	err := poll(ctx, time.Minute, 50*time.Millisecond, func() (bool, error) {
		covered := map[int]bool{}
		last = last[:0]
		for _, p := range procs {
			if err := p.alive(); err != nil {
				return false, err
			}
			r, err := p.readyz(ctx)
			if err != nil {
				return false, nil
			}
			last = append(last, p.name+" "+jsonOf(r))
			ids := r.readyPartitions()
			if len(ids) == 0 {
				return false, nil
			}
			for _, id := range ids {
				covered[id] = true
			}
		}
		return len(covered) == b.opts.partitions, nil
	})
	if err != nil {
		return fmt.Errorf("the instances did not share the partitions out: %w; last /readyz: %s", err, strings.Join(last, "; "))
	}
	return nil
}

// waitCaughtUp waits until g has committed ends on the input topic, failing
// early if an instance exits.
func (b *bench) waitCaughtUp(ctx context.Context, g *group, ends []int64, procs []*proc) error {
	err := poll(ctx, b.opts.catchUpTimeout, 200*time.Millisecond, func() (bool, error) {
		for _, p := range procs {
			if err := p.alive(); err != nil {
				return false, err
			}
		}
		return b.cluster.caughtUp(ctx, g.name, g.topic, ends)
	})
	if err != nil {
		return fmt.Errorf("group %s: waiting for the input to be processed: %w", g.name, err)
	}
	return nil
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
