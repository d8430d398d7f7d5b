package processors_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/journey-dev/journey/pkg/journey"
	"github.com/journey-dev/journey/processors"
	"github.com/journey-dev/journey/processors/interest"
	// Defines -update, so `go test ./processors/... -update` runs here too.
	_ "github.com/journey-dev/journey/processors/processortest"
	"github.com/journey-dev/journey/processors/profile"
)

func sections(t *testing.T, doc string) map[string]yaml.Node {
	t.Helper()
	var m map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("bad test YAML: %v", err)
	}
	return m
}

func names(ps []journey.Processor) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name())
	}
	return strings.Join(n, ",")
}

func TestAll(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range processors.All() {
		if seen[s.Name] {
			t.Errorf("processor %q listed twice", s.Name)
		}
		seen[s.Name] = true
		p, err := s.Build(nil)
		if err != nil {
			t.Fatalf("%s: Build(nil) = %v, want the defaults to build", s.Name, err)
		}
		if p.Name() != s.Name {
			t.Errorf("Spec %q builds a processor named %q", s.Name, p.Name())
		}
		if p.StateVersion() == 0 {
			t.Errorf("%s: StateVersion 0", s.Name)
		}
	}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string // the sections; "" for none
		enabled []string
		want    string   // processor names, when no error
		errs    []string // substrings of the error
	}{
		{name: "no sections, all enabled", want: "profile,interest"},
		{name: "null sections are defaults", yaml: "interest:\nprofile: ~\n", want: "profile,interest"},
		{name: "enabled subset, in registry order", yaml: "", enabled: []string{"interest", "profile"}, want: "profile,interest"},
		{name: "only interest", enabled: []string{"interest"}, want: "interest"},
		{name: "none enabled", enabled: []string{}, want: ""},
		{name: "full interest section", yaml: `
interest:
  window: 72h
  threshold: 2
  channels: [web]
  target: call_centre
  max_categories: 10
  max_views: 5
profile:
  max_event_names: 10
  max_channels: 5
  max_anonymous_ids: 2
`, want: "profile,interest"},
		{name: "unknown section", yaml: "interset:\n  threshold: 3\nzzz: 1\n", errs: []string{`unknown section "interset", "zzz"`, "known: profile, interest"}},
		{name: "unknown enabled", enabled: []string{"intrest"}, errs: []string{`unknown processor "intrest" enabled`}},
		{name: "enabled twice", enabled: []string{"profile", "profile"}, errs: []string{`"profile" enabled twice`}},
		{name: "unknown field", yaml: "interest:\n  treshold: 3\n", errs: []string{"interest.treshold: line 2: unknown field"}},
		{name: "unknown fields in two sections", yaml: "interest:\n  treshold: 3\nprofile:\n  max_ids: 1\n", errs: []string{"interest.treshold:", "profile.max_ids:"}},
		{name: "bad duration", yaml: "interest:\n  window: 7d\n", errs: []string{`interest.window: line 2: "7d" is not a duration`}},
		{name: "duration as a number", yaml: "interest:\n  window: 3600\n", errs: []string{`interest.window: line 2: "3600" is not a duration`}},
		{name: "wrong type", yaml: "interest:\n  threshold: three\n", errs: []string{"interest.threshold: line 2: cannot unmarshal !!str `three` into int"}},
		{name: "list for a string", yaml: "interest:\n  target: [email]\n", errs: []string{"interest.target: line 2: cannot unmarshal !!seq into string"}},
		{name: "empty field", yaml: "interest:\n  channels:\n", errs: []string{"interest.channels: line 2: empty value"}},
		{name: "field twice", yaml: "interest:\n  threshold: 2\n  threshold: 4\n", errs: []string{"interest.threshold: line 3: field given twice"}},
		{name: "section not a mapping", yaml: "interest: [1, 2]\n", errs: []string{"interest: line 1: want a mapping of fields, got a list"}},
		{name: "invalid value", yaml: "interest:\n  threshold: 0\n", errs: []string{"interest.threshold: must be >= 1, got 0"}},
		{name: "invalid against a default", yaml: "interest:\n  threshold: 30\n", errs: []string{"interest.max_views: must be >= threshold (30), got 20"}},
		{name: "disabled section not decoded", yaml: "interest:\n  threshold: 0\n", enabled: []string{"profile"}, want: "profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var secs map[string]yaml.Node
			if tc.yaml != "" {
				secs = sections(t, tc.yaml)
			}
			ps, err := processors.Build(secs, tc.enabled)
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatalf("Build succeeded with %s, want an error", names(ps))
				}
				for _, w := range tc.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Build error = %q\nwant it to contain %q", err, w)
					}
				}
				if !strings.HasPrefix(err.Error(), "processors: ") {
					t.Errorf("Build error %q does not start with the package name", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got := names(ps); got != tc.want {
				t.Errorf("Build built %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBuildAppliesSection checks decoded values reach the processors and
// that fields left out keep their defaults.
func TestBuildAppliesSection(t *testing.T) {
	secs := sections(t, "interest:\n  window: 90m\n  channels: [app]\nprofile:\n  max_channels: 7\n")
	ps, err := processors.Build(secs, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc := ps[0].(*profile.Processor).Config()
	if want := (profile.Config{MaxEventNames: 100, MaxChannels: 7, MaxAnonymousIDs: 5}); pc != want {
		t.Errorf("profile config = %+v, want %+v", pc, want)
	}
	ic := ps[1].(*interest.Processor).Config()
	want := interest.DefaultConfig()
	want.Window = 90 * time.Minute
	want.Channels = []string{"app"}
	if ic.Window != want.Window || strings.Join(ic.Channels, ",") != "app" || ic.Threshold != want.Threshold ||
		ic.Target != want.Target || ic.MaxCategories != want.MaxCategories || ic.MaxViews != want.MaxViews {
		t.Errorf("interest config = %+v, want %+v", ic, want)
	}
}

// TestSpecBuildDocument checks Spec.Build accepts a whole YAML document
// node as well as the section's value.
func TestSpecBuildDocument(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("threshold: 5\nmax_views: 5\n"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range processors.All() {
		if s.Name != interest.Name {
			continue
		}
		p, err := s.Build(&doc)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.(*interest.Processor).Config().Threshold; got != 5 {
			t.Errorf("threshold = %d, want 5", got)
		}
	}
}
