package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/pipeline"
)

// A changelog topic that cannot hold the input's partitions' state stops
// journey at start-up, naming the field.
func TestRefusesUnfitChangelog(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int
		configs    []kafka.ConfigEntry
		want       []string
	}{
		{"not co-partitioned", 3, []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
			[]string{"changelog.topic", "3 partitions", "co-partitioned"}},
		{"not compacted", 2, []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "delete"}},
			[]string{"changelog.topic", "cleanup.policy=delete", "compact"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 2, "")
			clog := h.topic + ".changelog"
			testrig.CreateTopic(t, h.brokers, clog, tc.partitions, tc.configs...)
			r := h.start(1, "", func(c *pipeline.Config) { c.Changelog = pipeline.ChangelogConfig{Topic: clog} })
			select {
			case err := <-r.done:
				for _, w := range tc.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("want an error containing %q, got %v", w, err)
					}
				}
			case <-time.After(30 * time.Second):
				r.cancel()
				t.Fatal("pipeline started with an unfit changelog topic")
			}
			_ = r.store.Close()
		})
	}
}
