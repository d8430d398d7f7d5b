package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/journey-dev/journey/pkg/api"
	"github.com/journey-dev/journey/pkg/pipeline"
	"github.com/journey-dev/journey/pkg/state"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/timeline"
)

// BenchmarkCustomer is GET /v1/customers/{id} through the handler for a
// customer with a full timeline (200 entries) and every processor's
// state, in a store of 8 partitions holding 20,000 other customers' states
// (bench/results/api.md has the figure under load): read on every
// partition (no cluster: identity routing off), then on its own (a
// cluster that knows the partition, as with identity routing).
func BenchmarkCustomer(b *testing.B) {
	const parts, others = 8, 20_000
	var names []string
	for _, s := range processors.All() {
		names = append(names, s.Name)
	}
	procs, err := processors.Build(nil, names)
	if err != nil {
		b.Fatal(err)
	}
	store, err := state.Open(b.TempDir(), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	empty := map[string][]byte{}
	for _, p := range procs {
		data, err := p.NewState().MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		empty[p.Name()] = data
	}
	put := func(p *state.Partition, bt *state.Batch, id string, tl []byte) {
		for _, proc := range procs {
			data := empty[proc.Name()]
			if proc.Name() == timeline.Name && tl != nil {
				data = tl
			}
			bt.PutState(id, proc.Name(), proc.StateVersion(), data)
		}
	}
	var tl timeline.State
	t0 := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	for i := range 200 {
		e := timeline.Entry{At: t0.Add(time.Duration(i) * time.Second), Kind: timeline.KindEvent, Channel: "web",
			Name: "Product Viewed", ID: fmt.Sprintf("ev-%d", i), ProductID: fmt.Sprintf("sku-%d", i%17), Category: "Footwear/Winter Boots"}
		if i%10 == 9 {
			e = timeline.Entry{At: e.At, Kind: timeline.KindFired, Channel: "email", Name: "interest.category", ID: fmt.Sprintf("tr-%d", i),
				Reason: "3 views of Footwear/Winter Boots", Causes: []string{fmt.Sprintf("ev-%d", i-3), fmt.Sprintf("ev-%d", i-2), fmt.Sprintf("ev-%d", i-1)}}
		}
		tl.Entries = append(tl.Entries, e)
	}
	full, err := tl.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	const who = "cust-0000042"
	for pid := range parts {
		p, err := store.Partition(pid)
		if err != nil {
			b.Fatal(err)
		}
		bt := p.NewBatch()
		for c := range others {
			if id := fmt.Sprintf("cust-%07d", c); pipeline.PartitionOf(id, parts) == pid {
				tl := []byte(nil)
				if id == who {
					tl = full
				}
				put(p, bt, id, tl)
			}
		}
		if err := bt.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	if err := store.Flush(); err != nil {
		b.Fatal(err)
	}
	for _, cluster := range []bool{false, true} {
		name := "every-partition"
		if cluster {
			name = "its-partition"
		}
		b.Run(name, func(b *testing.B) {
			h, err := api.NewHandler(store, procs, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			if cluster {
				h.SetCluster(localCluster{parts}, nil, "http")
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/customers/"+who, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET: %d %s", rec.Code, rec.Body)
			}
			b.SetBytes(int64(rec.Body.Len()))
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET: %d", rec.Code)
				}
			}
		})
	}
}

// localCluster is a group of one instance over n partitions, all ready.
type localCluster struct{ n int }

func (c localCluster) Partition(id string) (int, bool) { return pipeline.PartitionOf(id, c.n), true }
func (localCluster) Local(int) (string, bool)          { return "ready", true }
func (localCluster) Owner(context.Context, int) (string, error) {
	return "", errors.New("one instance")
}
