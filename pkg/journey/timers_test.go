package journey_test

import (
	"testing"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/pkg/journey/timerstoretest"
)

func TestMemTimersContract(t *testing.T) {
	timerstoretest.Run(t, func(*testing.T) journey.TimerStore { return &journey.MemTimers{} })
}
