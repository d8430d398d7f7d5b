// Package examples holds journey's runnable examples and the tests that
// keep README.md true to them:
//
//   - redis-consumer: a downstream service reading the trigger streams with
//     a Redis consumer group (README's "Reading triggers" shows its loop);
//   - quickstart.sh: README's quick start as one bounded script, from a real
//     Kafka and Redis to triggers read by that consumer.
//
// The tests check that README's quick-start commands are the script's,
// that its Go loop is the consumer's, and that its examples (the /readyz
// answer, the events sent with kcat, the demo customer whose context it
// reads) are what journey does; quickstart_test.go runs the script against
// the real rig.
package examples
