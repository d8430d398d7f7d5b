//go:build !journeyfaults

package journey

// injectedFault is the fault injector of the chaos suite's poison events,
// which only a `-tags journeyfaults` build has (faults_journeyfaults.go).
// Here it does nothing, and the compiler removes it from Engine.Fold.
func injectedFault(string, *Event) error { return nil }
