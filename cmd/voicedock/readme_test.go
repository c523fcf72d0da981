package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// docFile reads a file of the documentation, relative to the repository.
func docFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEIsTrue keeps the README and docs/ in step with the code: the
// README's error table has every code with its meaning and its tool list
// every tool and names every VOICEDOCK_* variable; docs/configuration.md
// has each one's default and meaning, and docs/tools.md every tool.
func TestREADMEIsTrue(t *testing.T) {
	t.Parallel()
	readme := docFile(t, "README.md")
	configDoc := docFile(t, "docs/configuration.md")
	reference := docFile(t, "docs/tools.md")
	for _, c := range core.ErrorCodes() {
		row := "| `" + string(c.Code) + "` | " + c.Meaning + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the error row %s", row)
		}
	}
	typ := reflect.TypeOf(config{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		if !strings.Contains(configDoc, "| `"+name+"`") {
			t.Errorf("docs/configuration.md lacks %s", name)
		}
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README's configuration list lacks %s", name)
		}
	}
	for _, tool := range tools.All(tools.Deps{}) {
		row := "| `" + tool.Name + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README's tool list lacks %s", tool.Name)
		}
		if !strings.Contains(reference, row) {
			t.Errorf("docs/tools.md lacks %s", tool.Name)
		}
	}
}

// mdLink is a Markdown link's target: a path, an anchor or both.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestReadmeLinksStayInTheRepository: every relative link of the README
// and docs/ names a file of the repository, and an anchor a heading of
// its file, so a newcomer following one never lands nowhere.
func TestReadmeLinksStayInTheRepository(t *testing.T) {
	t.Parallel()
	files := []string{"README.md"}
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		files = append(files, filepath.Join("docs", filepath.Base(d)))
	}
	if len(files) < 2 {
		t.Fatal("no docs/*.md")
	}
	for _, f := range files {
		for _, m := range mdLink.FindAllStringSubmatch(docFile(t, f), -1) {
			target := m[1]
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := f
			if path != "" {
				file = filepath.Clean(filepath.Join(filepath.Dir(f), path))
				if strings.HasPrefix(file, "..") {
					t.Errorf("%s links outside the repository: %s", f, target)
					continue
				}
				if _, err := os.Stat(filepath.Join("../..", file)); err != nil {
					t.Errorf("%s links to a missing file: %s", f, target)
					continue
				}
			}
			if anchor != "" && !hasHeading(docFile(t, file), anchor) {
				t.Errorf("%s links to %s, which has no heading #%s", f, file, anchor)
			}
		}
	}
}

// hasHeading reports whether markdown has a heading whose GitHub anchor
// is anchor: lower case, spaces as dashes, punctuation dropped.
func hasHeading(markdown, anchor string) bool {
	for _, line := range strings.Split(markdown, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
				b.WriteRune(r)
			}
		}
		if b.String() == anchor {
			return true
		}
	}
	return false
}
