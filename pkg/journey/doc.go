// Package journey is the domain core: the normalised Event every decoder
// produces, the Trigger every processor emits, the Processor interface and
// the Fold that applies one event to a customer's state.
//
// It imports no Kafka, Redis or Pebble. Processors depend only on this
// package, so business rules are tested with no infrastructure at all.
package journey
