package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if err := newFlags(help{name: "version"}, stdout, stderr).parse(args); err != nil {
		return err
	}
	rev, dirty := "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
	}
	_, err := fmt.Fprintf(stdout, "journey %s (commit %s%s, %s, %s/%s)\n", version, rev, dirty, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
