package sink_test

import (
	"testing"

	"github.com/journey-dev/journey/pkg/sink"
	"github.com/journey-dev/journey/pkg/sink/memsink"
	"github.com/journey-dev/journey/pkg/sink/sinktest"
)

type coalesced struct{ *memsink.Sink }

func (in coalesced) Reopen(*testing.T) sink.Sink { return sink.Coalesce(in.Sink.Reopen()) }

func TestCoalesceContract(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) (sink.Sink, sinktest.Inspector) {
		s := memsink.New()
		return sink.Coalesce(s), coalesced{s}
	})
}
