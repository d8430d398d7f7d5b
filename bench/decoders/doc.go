// Package decoders compares journey's hand-written JSON parser with
// maintained JSON libraries on the decoder's own work, and holds nothing
// else: its tests check that each library gives the decoder the same
// events on the golden corpus, its benchmarks time them.
//
// It is a module of its own so that the libraries stay out of journey's
// go.mod. Run it from this directory:
//
//	go test -tags journey_decoders -bench . -count 6
//
// The journey_decoders tag builds pkg/ingest's hook (decoders.go) that
// lets a Decoder parse with a library's Unmarshal.
package decoders
