package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kestra-guard/kestra-guard/test/framework"
)

// figure is a measured quantity written out: a number with a unit of time,
// rate or size, or a ratio.
var figure = regexp.MustCompile(`(^|[^\p{L}\p{N}.])\d+(\.\d+)? ?(ns|µs|ms|s|min|/s|KiB|MiB|GiB|KB|MB|x|%)([^\p{L}\p{N}]|$)`)

// The README's Quick start and Status sections copy no figure: they link to
// BENCHMARKS.md, which a run writes (and whose hand-written notes hold the
// build and test times). A copied figure drifts from the run it came from.
func TestREADMECopiesNoFigures(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	for _, heading := range []string{"## Quick start", "## Status"} {
		text, line := section(readme, heading)
		if text == "" {
			t.Errorf("README.md has no section %q", heading)
			continue
		}
		for i, l := range strings.Split(text, "\n") {
			if m := figure.FindString(l); m != "" {
				t.Errorf("README.md:%d (%s): %q is a figure; link to the BENCHMARKS.md section that measures it instead:\n%s", line+i, heading, strings.TrimSpace(m), l)
			}
		}
	}
}

// Every link from the README into BENCHMARKS.md names a heading it has.
func TestREADMELinksToBenchmarksResolve(t *testing.T) {
	readme, bench := readRepoFile(t, "README.md"), readRepoFile(t, "BENCHMARKS.md")
	anchors := map[string]bool{}
	for _, l := range strings.Split(bench, "\n") {
		if strings.HasPrefix(l, "#") {
			anchors[slug(strings.TrimLeft(l, "# "))] = true
		}
	}
	links := regexp.MustCompile(`\(BENCHMARKS\.md#([^)]+)\)`).FindAllStringSubmatch(readme, -1)
	if len(links) == 0 {
		t.Fatal("README.md links to no BENCHMARKS.md section")
	}
	for _, m := range links {
		if !anchors[m[1]] {
			t.Errorf("README.md links to BENCHMARKS.md#%s, which has no such heading", m[1])
		}
	}
}

// BENCHMARKS.md ends with hack/bench/notes.md as the run includes it: the
// notes are edited there, never in BENCHMARKS.md.
func TestBenchmarksIncludesNotes(t *testing.T) {
	bench, notes := readRepoFile(t, "BENCHMARKS.md"), readRepoFile(t, filepath.Join("hack", "bench", "notes.md"))
	if !strings.HasSuffix(bench, strings.TrimSpace(notes)+"\n") {
		t.Error("BENCHMARKS.md does not end with hack/bench/notes.md: copy the notes' text after its \"Hand-written notes\" heading, or run make bench")
	}
}

// section is the text under heading up to the next heading of any level,
// and the line number of its first line.
func section(doc, heading string) (string, int) {
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if l != heading {
			continue
		}
		end := i + 1
		for end < len(lines) && !strings.HasPrefix(lines[end], "#") {
			end++
		}
		return strings.Join(lines[i+1:end], "\n"), i + 2
	}
	return "", 0
}

// slug is GitHub's anchor for a heading: lower case, spaces to hyphens,
// punctuation other than hyphens dropped.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
