package audiodir_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/audiodir"
)

// FuzzRel: whatever a client sends as a path, the result stays inside the
// folder, and ReadFile either reads a file in it or says ErrNotReadable.
func FuzzRel(f *testing.F) {
	d, dir, _ := setup(f)
	for _, s := range []string{"sub/hold.wav", "../secret.wav", dir + "/sub/hold.wav", dir + "/../x", "/", "a/./b/../../..", "..\\x", "sub//hold.wav"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		rel, err := d.Rel(ref)
		if err != nil {
			if !errors.Is(err, audiodir.ErrNotReadable) {
				t.Fatalf("%q: %v", ref, err)
			}
			return
		}
		if !filepath.IsLocal(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Fatalf("%q resolved to %q, outside the folder", ref, rel)
		}
		if _, err := d.ReadFile(ref); err != nil && !errors.Is(err, audiodir.ErrNotReadable) {
			t.Fatalf("%q: %v", ref, err)
		}
	})
}
