package audiodir_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/audiodir"
)

// wav is a valid 100 ms recording.
func wav() []byte {
	return audio.EncodeWAV(audio.PCM{Rate: 8000, Samples: make([]int16, 800)})
}

// setup makes an audio folder with a good recording, next to a secret WAV
// outside it, and opens it.
func setup(t testing.TB) (*audiodir.Dir, string, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "audio")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "hold.wav"), wav(), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "secret.wav")
	if err := os.WriteFile(secret, wav(), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := audiodir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir, secret
}

func TestReadsARecordingInTheFolder(t *testing.T) {
	d, dir, _ := setup(t)
	for _, ref := range []string{filepath.Join(dir, "sub", "hold.wav"), "sub/hold.wav"} {
		p, err := d.Read(ref)
		if err != nil || len(p.Samples) != 800 {
			t.Fatalf("%s: %d samples, %v", ref, len(p.Samples), err)
		}
		if err := d.CheckAudio(t.Context(), ref); err != nil {
			t.Fatalf("CheckAudio(%s): %v", ref, err)
		}
	}
}

// TestRefusals: every way out of the folder, and every file that is not
// a readable WAV, is refused with the one error that says nothing more.
func TestRefusals(t *testing.T) {
	d, dir, secret := setup(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A symlink to a file outside, and one to a directory outside.
	must(os.Symlink(secret, filepath.Join(dir, "link.wav")))
	must(os.Symlink(filepath.Dir(secret), filepath.Join(dir, "up")))
	// A relative symlink climbing out.
	must(os.Symlink("../secret.wav", filepath.Join(dir, "rel.wav")))
	// A FIFO: opening it for reading would block until a writer came.
	must(syscall.Mkfifo(filepath.Join(dir, "fifo.wav"), 0o644))
	// A device reached through a symlink, and a directory.
	must(os.Symlink("/dev/zero", filepath.Join(dir, "zero.wav")))
	must(os.Mkdir(filepath.Join(dir, "dir.wav"), 0o755))
	// Not a WAV; too large.
	must(os.WriteFile(filepath.Join(dir, "text.wav"), []byte("hello"), 0o644))
	big, err := os.Create(filepath.Join(dir, "big.wav"))
	must(err)
	must(big.Truncate(audiodir.MaxBytes + 1))
	big.Close()

	for _, ref := range []string{
		secret,                                 // outside the folder
		filepath.Join(dir, "..", "secret.wav"), // .. out of it
		"../secret.wav",                        // relative .. out of it
		filepath.Join(dir, "sub", "../../secret.wav"),
		filepath.Join(dir, "link.wav"),         // symlink to a file outside
		filepath.Join(dir, "up", "secret.wav"), // through a symlinked directory outside
		filepath.Join(dir, "rel.wav"),          // relative symlink out
		filepath.Join(dir, "fifo.wav"),         // FIFO
		filepath.Join(dir, "zero.wav"),         // device
		filepath.Join(dir, "dir.wav"),          // directory
		filepath.Join(dir, "text.wav"),         // not a WAV
		filepath.Join(dir, "big.wav"),          // too large
		filepath.Join(dir, "missing.wav"),      // missing
		dir,                                    // the folder itself
		"/etc/passwd",
		"",
		"sub/hold.wav\x00",
	} {
		done := make(chan error, 1)
		go func() { done <- d.CheckAudio(t.Context(), ref) }()
		select {
		case err := <-done:
			if !errors.Is(err, audiodir.ErrNotReadable) {
				t.Errorf("%q: %v, want ErrNotReadable", ref, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: CheckAudio blocked", ref)
		}
	}
}

func TestOpenWantsAnAbsoluteDirectory(t *testing.T) {
	if _, err := audiodir.Open("audio"); err == nil {
		t.Error("a relative folder was accepted")
	}
	if _, err := audiodir.Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing folder was accepted")
	}
}
