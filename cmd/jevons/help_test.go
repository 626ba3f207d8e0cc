package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestTopLevelHelpListsEveryCommandOnOneLine(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("jevons --help exited %d:\n%s", code, out.String())
	}
	lines := strings.Split(out.String(), "\n")
	for _, c := range commands() {
		if c.summary == "" || strings.Contains(c.summary, "\n") {
			t.Errorf("command %q: summary must be one non-empty line, got %q", c.name, c.summary)
		}
		n := 0
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) > 1 && f[0] == c.name && strings.Contains(l, c.summary) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("jevons --help shows command %q with its summary on %d lines, want 1:\n%s", c.name, n, out.String())
		}
	}
}

// helpTargets are the argument lists whose --help must show an example:
// every command, and every subcommand named in the examples table.
func helpTargets() [][]string {
	var targets [][]string
	for _, c := range commands() {
		targets = append(targets, []string{c.name})
	}
	for name := range examples {
		if f := strings.Fields(name); len(f) > 1 {
			targets = append(targets, f)
		}
	}
	return targets
}

func TestEveryCommandsHelpShowsAnExample(t *testing.T) {
	for _, target := range helpTargets() {
		name := strings.Join(target, " ")
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{}, target...), "--help"), &stdout, &stderr)
			if code != 0 {
				t.Fatalf("jevons %s --help exited %d:\n%s", name, code, stderr.String())
			}
			help := stderr.String()
			if !strings.Contains(help, "Example") {
				t.Fatalf("jevons %s --help has no Example (add one to examples in help.go):\n%s", name, help)
			}
			for _, ex := range examples[name] {
				if !strings.Contains(help, ex) {
					t.Errorf("jevons %s --help lacks its example %q", name, ex)
				}
				if !strings.HasPrefix(ex, "jevons "+target[0]) && !strings.Contains(ex, " jevons "+target[0]) {
					t.Errorf("example %q of %q does not run jevons %s", ex, name, target[0])
				}
			}
		})
	}
}

// The pricing examples need no services, so they are run as written.
func TestPricingExamplesRun(t *testing.T) {
	for _, name := range []string{"prices cost", "prices lookup"} {
		for _, ex := range examples[name] {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), strings.Fields(ex)[1:], &stdout, &stderr); code != 0 {
				t.Errorf("%s: exit %d\n%s%s", ex, code, stdout.String(), stderr.String())
			}
		}
	}
}
