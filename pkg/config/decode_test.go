package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Every problem in the file is one line: the field's YAML path, its line,
// what is wrong. All of them are reported.
func TestParseNamesPathAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "kafka:\n  brokers: [a:1]\n  brokerz: [b:1]\n",
			[]string{"kafka.brokerz (line 3): unknown field"}},
		{"unknown section", "kafak:\n  brokers: [a:1]\n",
			[]string{"kafak (line 1): unknown field"}},
		{"field twice", "log:\n  level: info\n  level: debug\n",
			[]string{"log.level (line 3): field given twice"}},
		{"empty value", "kafka:\n  group_id:\n",
			[]string{"kafka.group_id (line 2): empty value (leave the field out for its default)"}},
		{"duration", "kafka:\n  fetch_max_wait: 500\n",
			[]string{`kafka.fetch_max_wait (line 2): "500" is not a duration (want e.g. 168h, 90m, 30s)`}},
		{"integer", "kafka:\n  fetch_max_bytes: 4MiB\n",
			[]string{`kafka.fetch_max_bytes (line 2): "4MiB" is not an integer`}},
		{"bool through a pointer", "state:\n  sync: sometimes\n",
			[]string{`state.sync (line 2): "sometimes" is not true or false`}},
		{"scalar for a list", "kafka:\n  topics: journey.events\n",
			[]string{`kafka.topics (line 2): want a list, got "journey.events"`}},
		{"list for a scalar", "changelog:\n  standbys: [1]\n",
			[]string{"changelog.standbys (line 2): want a single value, got a list"}},
		{"list item", "kafka:\n  topics: [a, [b]]\n",
			[]string{"kafka.topics[1] (line 2): want a single value, got a list"}},
		{"map entry", "kafka:\n  topic_channels: {web.events: [web]}\n",
			[]string{`kafka.topic_channels["web.events"] (line 2): want a single value, got a list`}},
		{"section not a mapping", "kafka: [a, b]\n",
			[]string{"kafka (line 1): want a mapping of fields, got a list"}},
		{"document not a mapping", "- a\n",
			[]string{"(top level) (line 1): want a mapping of fields, got a list"}},
		{"several", "kafka:\n  brokerz: x\nbatch:\n  linger: soon\n",
			[]string{"kafka.brokerz (line 2): unknown field", `batch.linger (line 4): "soon" is not a duration (want e.g. 168h, 90m, 30s)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := c.Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("Parse error:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			for _, e := range Split(err) {
				if fe := (*FieldError)(nil); !errors.As(e, &fe) {
					t.Errorf("%q is not a *FieldError", e)
				}
			}
		})
	}
}

// Load names the file on every line.
func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.yaml")
	if err := os.WriteFile(path, []byte("kafka:\n  brokerz: x\nlog:\n  levl: info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	err := c.Load(path)
	want := "config " + path + ": kafka.brokerz (line 2): unknown field\nconfig " + path + ": log.levl (line 4): unknown field"
	if err == nil || err.Error() != want {
		t.Fatalf("Load error:\n%v\nwant:\n%s", err, want)
	}
	if err := os.WriteFile(path, []byte("kafka: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(path); err == nil || err.Error() != "config "+path+" (line 1): not valid YAML: did not find expected node content" {
		t.Fatalf("Load of bad YAML: %v", err)
	}
}

// Decode keeps what the file leaves out, replaces lists, merges maps and
// leaves an empty document alone.
func TestParseOverDefaults(t *testing.T) {
	c := Default()
	c.Kafka.TopicChannels = map[string]string{"a": "web", "b": "app"}
	err := c.Parse([]byte("kafka:\n  topics: [x, y]\n  topic_channels: {b: email, c: sms}\nstate:\n  sync: true\n" +
		"processors:\n  cart:\n    timeout: 1h\n  profile:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.GroupID != "journey" || strings.Join(c.Kafka.Topics, ",") != "x,y" || len(c.Kafka.Brokers) != 1 {
		t.Errorf("kafka = %+v", c.Kafka)
	}
	if m := c.Kafka.TopicChannels; len(m) != 3 || m["a"] != "web" || m["b"] != "email" || m["c"] != "sms" {
		t.Errorf("topic_channels = %v, want the file's merged over the defaults", m)
	}
	if c.State.Sync == nil || !*c.State.Sync {
		t.Errorf("state.sync = %v", c.State.Sync)
	}
	if n := c.Processors["cart"]; n.Kind != yaml.MappingNode || n.Content[0].Value != "timeout" {
		t.Errorf("processors.cart = %+v", n)
	}
	if n, ok := c.Processors["profile"]; !ok || !isNull(&n) {
		t.Errorf("processors.profile = %+v, want a null node (the processor's defaults)", n)
	}
	for _, empty := range []string{"", "# nothing\n", "---\n", "kafka:\nprocessors:\n"} {
		d := Default()
		if err := d.Parse([]byte(empty)); err != nil {
			t.Errorf("Parse(%q): %v", empty, err)
		}
	}
}

// Flags are typed like their fields, with the built-in defaults.
func TestFlagsAreTyped(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	Flags(fs)
	for name, want := range map[string]string{"standbys": "0", "changelog": "true", "brokers": "127.0.0.1:9092", "state-dir": "journey-data"} {
		f := fs.Lookup(name)
		if f == nil || f.DefValue != want {
			t.Errorf("--%s: %+v, want default %q", name, f, want)
		}
	}
	if typ, _ := flag.UnquoteUsage(fs.Lookup("standbys")); typ != "int" {
		t.Errorf("--standbys is a %q", typ)
	}
	if typ, _ := flag.UnquoteUsage(fs.Lookup("brokers")); typ != "list" {
		t.Errorf("--brokers is a %q", typ)
	}
	if err := fs.Parse([]string{"--standbys", "two"}); err == nil {
		t.Error("--standbys two accepted")
	}

	fs = flag.NewFlagSet("run", flag.ContinueOnError)
	apply := Flags(fs)
	if err := fs.Parse([]string{"--changelog=false", "--standbys", "2"}); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Kafka.GroupID = "from-file"
	if err := apply(&c, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if c.Changelog.Enabled || c.Changelog.Standbys != 2 || c.Kafka.GroupID != "from-file" {
		t.Errorf("after flags: %+v %q", c.Changelog, c.Kafka.GroupID)
	}
	if err := apply(&c, func(k string) string { return map[string]string{"JOURNEY_STANDBYS": "x"}[k] }); err == nil ||
		err.Error() != `JOURNEY_STANDBYS: "x" is not an integer` {
		t.Errorf("bad variable: %v", err)
	}
}

// FlagGroups lists every flag once, by section in the order of the file.
func TestFlagGroups(t *testing.T) {
	var sections []string
	seen := map[string]bool{}
	for _, g := range FlagGroups() {
		sections = append(sections, g.Section)
		for _, f := range g.Flags {
			if seen[f] {
				t.Errorf("--%s listed twice", f)
			}
			seen[f] = true
		}
	}
	if len(seen) != len(settings()) {
		t.Errorf("%d flags grouped, %d defined", len(seen), len(settings()))
	}
	if got := strings.Join(sections, ","); got != "kafka,state,changelog,identity,redis,admin,api,log,processors_enabled" {
		t.Errorf("sections %s", got)
	}
}
