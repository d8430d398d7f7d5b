package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/cli/*.txt")

// TestCLIGolden runs the command lines in testdata/cli/*.txt in-process
// and compares what they print and their exit status with the expected
// output written below each one. With -update it rewrites the expected
// output instead.
//
// A file is a sequence of cases:
//
//	# Comment lines, kept as they are.
//	$ journey run --config journey.yaml
//	file journey.yaml
//	kafka:
//	  brokerz: [x]
//	----
//	exit 1
//	-- stderr
//	journey run: config journey.yaml: kafka.brokerz (line 2): unknown field
//
// A "file NAME" line starts a file the command finds in its working
// directory (a temporary one); its content runs to the next "file" line or
// "----". The output is the exit status, then stdout and stderr when they
// are not empty; it runs to the next comment or command line. Arguments
// are split on spaces. JOURNEY_* variables are cleared.
func TestCLIGolden(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "JOURNEY_") {
			t.Setenv(k, "")
		}
	}
	files, err := filepath.Glob("testdata/cli/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		file, err := filepath.Abs(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			cases := readCLICases(t, file)
			var out bytes.Buffer
			for i, c := range cases {
				got := runCLICase(t, c)
				if i > 0 {
					out.WriteString("\n")
				}
				out.WriteString(c.input)
				out.WriteString(got)
				if !*update && got != c.want {
					t.Errorf("%s:%d: $ journey %s\ngot\n%s\nwant\n%s", filepath.Base(file), c.line, strings.Join(c.args, " "), got, c.want)
				}
			}
			if *update {
				if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

type cliCase struct {
	line  int    // of the command
	input string // the case's text up to and including "----"
	args  []string
	files map[string]string
	want  string // the expected output, each line ending in "\n"
}

func readCLICases(t *testing.T, file string) []cliCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []cliCase
	var c *cliCase
	var input, want strings.Builder
	inOutput, fileName := false, ""
	flush := func() {
		if c != nil {
			c.input, c.want = input.String(), strings.TrimRight(want.String(), "\n")+"\n"
			cases = append(cases, *c)
		}
		c, inOutput, fileName = nil, false, ""
		input.Reset()
		want.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case (c == nil || inOutput) && (strings.HasPrefix(line, "#") || strings.HasPrefix(line, "$ journey")):
			if c != nil && inOutput {
				flush()
			}
			input.WriteString(line + "\n")
			if rest, ok := strings.CutPrefix(line, "$ journey"); ok {
				c = &cliCase{line: n, args: strings.Fields(rest), files: map[string]string{}}
			}
		case c == nil:
			if line != "" {
				t.Fatalf("%s:%d: want a comment or a command, got %q", file, n, line)
			}
			input.WriteString("\n")
		case inOutput:
			want.WriteString(line + "\n")
		case line == "----":
			input.WriteString(line + "\n")
			inOutput = true
		case strings.HasPrefix(line, "file "):
			input.WriteString(line + "\n")
			fileName = strings.TrimPrefix(line, "file ")
			c.files[fileName] = ""
		case fileName != "":
			input.WriteString(line + "\n")
			c.files[fileName] += line + "\n"
		default:
			t.Fatalf("%s:%d: unexpected %q before ----", file, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return cases
}

// runCLICase runs one case's command in a directory holding its files.
func runCLICase(t *testing.T, c cliCase) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range c.files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), c.args, &stdout, &stderr)
	got := fmt.Sprintf("exit %d\n", code)
	if stdout.Len() > 0 {
		got += "-- stdout\n" + stdout.String()
	}
	if stderr.Len() > 0 {
		got += "-- stderr\n" + stderr.String()
	}
	return strings.TrimRight(got, "\n") + "\n"
}

// TestEveryCommandHasHelp: -h and --help print every command's help to
// stdout and exit 0; every flag is listed, under a heading.
func TestEveryCommandHasHelp(t *testing.T) {
	names := [][]string{{"state", "get"}, {"state", "diff"}, {"state", "promote"}, {"state", "restore"}}
	for _, c := range commands() {
		names = append(names, []string{c.name})
	}
	for _, name := range names {
		for _, h := range []string{"-h", "--help"} {
			t.Run(strings.Join(name, " ")+" "+h, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := dispatch(context.Background(), append(name, h), &stdout, &stderr)
				if code != 0 || stderr.Len() > 0 {
					t.Fatalf("exit %d, stderr %q", code, stderr.String())
				}
				head := fmt.Sprintf("journey %s - ", strings.Join(name, " "))
				if !strings.HasPrefix(stdout.String(), head) {
					t.Errorf("help starts %q, want the summary line %q...", firstLine(stdout.String()), head)
				}
				if !strings.Contains(stdout.String(), "\nUsage: journey "+strings.Join(name, " ")) {
					t.Errorf("help has no usage line:\n%s", stdout.String())
				}
			})
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestHelpListsEveryFlag: a flag set's help shows each of its flags once,
// with its type, default and heading, and a heading naming a flag that
// does not exist is caught.
func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	f := newFlags(help{name: "test", summary: "a test", groups: []flagGroup{{"First", []string{"b", "a"}}}}, &out, &out)
	f.Int("a", 3, "an int")
	f.String("b", "", "a string")
	f.Bool("c", true, "a bool")
	f.Duration("d", 0, "a duration")
	f.Usage()
	want := `journey test - a test

Usage: journey test [flags]

First:
  --b string    a string
  --a int       an int (default 3)

Other flags:
  --c           a bool (default true)
  --d duration  a duration (default 0s)
`
	if out.String() != want {
		t.Errorf("help:\n%s\nwant:\n%s", out.String(), want)
	}

	bad := newFlags(help{name: "test", groups: []flagGroup{{"First", []string{"nope"}}}}, &out, &out)
	defer func() {
		if recover() == nil {
			t.Error("a heading naming no flag was accepted")
		}
	}()
	bad.Usage()
}
