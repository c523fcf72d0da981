package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/voicedock/voicedock/tools"
)

// checkedIn holds the generated schemas as committed; the drift test
// compares them with what the Go types generate now.
//
//go:embed *.json
var checkedIn embed.FS

// Files maps a file name (<tool>.input.json, <tool>.output.json) to its
// content.
type Files map[string][]byte

// Generate returns the schema files of the given tools.
func Generate(list []tools.Tool) (Files, error) {
	files := Files{}
	for _, t := range list {
		in, err := Reflect(t.Input)
		if err != nil {
			return nil, fmt.Errorf("tool %s input: %w", t.Name, err)
		}
		out, err := Reflect(t.Output)
		if err != nil {
			return nil, fmt.Errorf("tool %s output: %w", t.Name, err)
		}
		files[t.Name+".input.json"] = append(in, '\n')
		files[t.Name+".output.json"] = append(out, '\n')
	}
	return files, nil
}

// CheckedIn returns the schema files committed with the source.
func CheckedIn() (Files, error) {
	files := Files{}
	err := fs.WalkDir(checkedIn, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := checkedIn.ReadFile(path)
		files[path] = b
		return err
	})
	return files, err
}

// Names returns the file names in order.
func (f Files) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Write writes the files into dir and removes schema files there that no
// tool has any more. It returns how many files it wrote.
func (f Files) Write(dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("schemas directory: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, err
	}
	for _, p := range old {
		if _, keep := f[filepath.Base(p)]; !keep && (strings.HasSuffix(p, ".input.json") || strings.HasSuffix(p, ".output.json")) {
			if err := os.Remove(p); err != nil {
				return 0, fmt.Errorf("remove stale schema: %w", err)
			}
		}
	}
	for _, name := range f.Names() {
		if err := os.WriteFile(filepath.Join(dir, name), f[name], 0o644); err != nil {
			return 0, fmt.Errorf("write schema: %w", err)
		}
	}
	return len(f), nil
}
