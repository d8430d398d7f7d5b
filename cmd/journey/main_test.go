package main

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/journey-dev/journey/processors"
)

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "journey ") {
		t.Fatalf("version output %q", out.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"nope"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `unknown command "nope"`) {
		t.Fatalf("stderr %q", errb.String())
	}
}

// TestNoTestDependenciesInBinary keeps heavy test-only dependencies
// (testcontainers, the Docker client) out of the production binary.
func TestNoTestDependenciesInBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, banned := range []string{"testcontainers", "github.com/docker/", "github.com/moby/", "/internal/testrig"} {
		if strings.Contains(string(out), banned) {
			t.Errorf("the journey binary depends on %s", banned)
		}
	}
}

// TestExampleConfigBuilds: the documented example configuration loads,
// validates and builds every processor but the timeline, which is off by
// default (timeline.enabled).
func TestExampleConfigBuilds(t *testing.T) {
	cfg, err := loadConfig(newFlags(runHelp, io.Discard, io.Discard), []string{"--config", "../../journey.example.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := processors.Build(cfg.Processors, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != len(processors.All())-1 {
		t.Fatalf("%d processors built, want all %d but the timeline", len(procs), len(processors.All()))
	}
}

// A command that prints its own message returns exitStatus: dispatch exits
// with it and adds nothing (journey state diff's 0/1/2 follows diff(1)).
func TestDispatchExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"state", "bogus"}, &out, &errb); code != 2 {
		t.Fatalf("journey state bogus: exit %d, want 2\n%s", code, errb.String())
	}
	if strings.Contains(errb.String(), "exit status") {
		t.Fatalf("dispatch printed the status as an error: %q", errb.String())
	}
	a, b := t.TempDir(), t.TempDir()
	if code := dispatch(context.Background(), []string{"state", "diff", a + "/none", b + "/none"}, &out, &errb); code != 2 {
		t.Fatalf("journey state diff of missing dirs: exit %d, want 2\n%s", code, errb.String())
	}
}
