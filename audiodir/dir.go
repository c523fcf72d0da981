package audiodir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/voicedock/voicedock/audio"
)

// Limits on one recording, the same as the speaker's for a download.
const (
	MaxBytes    = 16 << 20
	MaxDuration = 2 * time.Minute
)

// ErrNotReadable is every refusal of a path: missing, outside the folder,
// a symlink out of it, not a regular file, unreadable, too large, or not a
// WAV. Its text is all a client is told.
var ErrNotReadable = errors.New("not found or not a readable WAV in the audio folder")

// Dir is the audio folder. Its methods are safe for concurrent use.
type Dir struct {
	path string // absolute and clean, as configured
	root *os.Root
}

// Open opens the folder at dir, which must be an absolute path of a
// directory.
func Open(dir string) (*Dir, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("audio folder %q: not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("audio folder: %w", err)
	}
	return &Dir{path: dir, root: root}, nil
}

// Path is the folder's absolute path.
func (d *Dir) Path() string { return d.path }

// Close releases the folder.
func (d *Dir) Close() error { return d.root.Close() }

// Rel returns ref as a path relative to the folder: ref is an absolute
// path inside it (as message_audio_url carries it) or a relative one. It
// is a lexical step only; ReadFile resolves the result inside the root.
func (d *Dir) Rel(ref string) (string, error) {
	if ref == "" || strings.ContainsRune(ref, 0) {
		return "", ErrNotReadable
	}
	if path.IsAbs(ref) {
		rel, ok := strings.CutPrefix(path.Clean(ref), strings.TrimSuffix(filepath.ToSlash(d.path), "/")+"/")
		if !ok {
			return "", ErrNotReadable
		}
		ref = rel
	}
	ref = path.Clean(ref)
	if ref == "." || ref == ".." || strings.HasPrefix(ref, "../") || !filepath.IsLocal(filepath.FromSlash(ref)) {
		return "", ErrNotReadable
	}
	return filepath.FromSlash(ref), nil
}

// ReadFile returns the bytes of the regular file ref names inside the
// folder, at most MaxBytes.
func (d *Dir) ReadFile(ref string) ([]byte, error) {
	rel, err := d.Rel(ref)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer; the mode check below then refuses it. It changes nothing
	// for a regular file.
	f, err := d.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, ErrNotReadable
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() || info.Size() > MaxBytes {
		return nil, ErrNotReadable
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil || len(b) > MaxBytes {
		return nil, ErrNotReadable
	}
	return b, nil
}

// Read returns the recording ref names, decoded.
func (d *Dir) Read(ref string) (audio.PCM, error) {
	b, err := d.ReadFile(ref)
	if err != nil {
		return audio.PCM{}, err
	}
	p, err := audio.DecodeWAV(b, MaxDuration)
	if err != nil {
		return audio.PCM{}, ErrNotReadable
	}
	return p, nil
}

// CheckAudio reports whether ref is a playable recording in the folder;
// core calls it when an assistant is saved.
func (d *Dir) CheckAudio(_ context.Context, ref string) error {
	_, err := d.Read(ref)
	return err
}
