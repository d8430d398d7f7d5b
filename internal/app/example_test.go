package app_test

import (
	"fmt"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/pkg/config"
)

// Validate reports config's own rules first, then the pipeline's, each by
// its YAML path.
func ExampleValidate() {
	cfg := config.Default()
	cfg.Kafka.StartOffset = "beginning"
	fmt.Println(app.Validate(cfg))
	cfg.State.Dir = ""
	fmt.Println(app.Validate(cfg))
	// Output:
	// kafka.start_offset: "beginning" is not earliest, latest or committed
	// state.dir: required
}
