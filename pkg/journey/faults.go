//go:build !journeyfaults

package journey

// injectedFault is the fault injector of the chaos suite's poison events,
// which only a `-tags journeyfaults` build has (faults_journeyfaults.go).
// Here it does nothing, and the compiler removes it from Engine.Fold (it
// takes the processor, not its name, so not even Name is called).
func injectedFault(Processor, *Event) error { return nil }
