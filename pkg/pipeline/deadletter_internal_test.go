package pipeline

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/pkg/ingest"
)

// fit drops the value of a dead letter over the bound first, then the
// original headers and key; one under the bound is left whole.
func TestDeadLetterFit(t *testing.T) {
	src := &kafka.Message{Topic: "in", Key: []byte("k"), Value: []byte(strings.Repeat("v", 10_000)),
		Headers: []kafka.Header{{Key: "trace", Value: []byte(strings.Repeat("h", 5_000))}}}
	dl := deadLetter(src, &ingest.Error{Reason: "format_violation", Msg: strings.Repeat("m", 3_000)})
	for _, tc := range []struct {
		limit int
		level int
	}{{20_000, 0}, {9_000, 1}, {4_000, 2}} {
		d := deadRecord{m: dl}
		d.fit(tc.limit)
		if d.level != tc.level {
			t.Errorf("limit %d: level %d, want %d", tc.limit, d.level, tc.level)
		}
		if tc.level > 0 && (len(d.m.Value) != 0 || header(d.m.Headers, HeaderValueBytes) != "10000") {
			t.Errorf("limit %d: %d value bytes, %s=%q", tc.limit, len(d.m.Value), HeaderValueBytes, header(d.m.Headers, HeaderValueBytes))
		}
		if tc.level == 2 && (d.m.Key != nil || header(d.m.Headers, "trace") != "" || len(header(d.m.Headers, HeaderMessage)) != maxDLQMessage) {
			t.Errorf("limit %d: stripped dead letter keeps key %q, headers %d", tc.limit, d.m.Key, len(d.m.Headers))
		}
		if got := deadLetterSize(&d.m); tc.level < 2 && got > tc.limit {
			t.Errorf("limit %d: %d bytes after fit", tc.limit, got)
		}
	}
	if len(dl.Value) != 10_000 || len(dl.Headers) != 6 {
		t.Error("fit changed the dead letter it was given")
	}
}

func header(hs []kafka.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
