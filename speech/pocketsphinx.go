package speech

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
)

// PocketSphinx recognises speech offline with CMU PocketSphinx and its US
// English model (Debian's pocketsphinx and pocketsphinx-en-us). It runs
// the program once per utterance, as ESpeak does, rather than linking the
// library through cgo: the build stays pure Go, and a crash in the
// recogniser cannot take the server down. Debian 12 ships 0.8+5prealpha,
// whose program is pocketsphinx_continuous; PocketSphinx 5's is
// `pocketsphinx single`, which prints JSON: both are understood.
type PocketSphinx struct {
	// Path of the program; found on PATH when "".
	Path string
}

// Name is the engine's configuration name.
func (p *PocketSphinx) Name() string { return "pocketsphinx" }

// Available reports whether a PocketSphinx program is installed.
func (p *PocketSphinx) Available() bool {
	_, _, err := p.program()
	return err == nil
}

// program finds the binary and whether it is PocketSphinx 5.
func (p *PocketSphinx) program() (string, bool, error) {
	if p.Path != "" {
		bin, err := exec.LookPath(p.Path)
		return bin, filepath.Base(bin) == "pocketsphinx", err
	}
	if bin, err := exec.LookPath("pocketsphinx_continuous"); err == nil {
		return bin, false, nil
	}
	if bin, err := exec.LookPath("pocketsphinx"); err == nil {
		return bin, true, nil
	}
	return "", false, errors.New("not installed")
}

// Recognize writes the utterance as a 16 kHz WAV (the rate the en-us
// acoustic model was trained at; the 8 kHz call audio is resampled) and
// runs the recogniser on it. The language is not used: the only model
// installed is US English.
func (p *PocketSphinx) Recognize(ctx context.Context, pcm []int16, _ string) (string, error) {
	bin, v5, err := p.program()
	if err != nil {
		return "", &core.Error{Code: core.CodeUnavailable, Message: "speech-to-text is unavailable: pocketsphinx is not installed (apt-get install pocketsphinx pocketsphinx-en-us)"}
	}
	f, err := os.CreateTemp("", "voicedock-utterance-*.wav")
	if err != nil {
		return "", fmt.Errorf("utterance file: %w", err)
	}
	defer os.Remove(f.Name())
	wav := audio.EncodeWAV(audio.PCM{Rate: 16000, Samples: audio.Resample(pcm, audio.Rate8k, 16000)})
	if _, err := f.Write(wav); err != nil {
		f.Close()
		return "", fmt.Errorf("utterance file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("utterance file: %w", err)
	}
	var cmd *exec.Cmd
	if v5 {
		cmd = exec.CommandContext(ctx, bin, "single", f.Name())
	} else {
		cmd = exec.CommandContext(ctx, bin, "-infile", f.Name(), "-logfn", os.DevNull)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("pocketsphinx: %w: %s", err, clip(stderr.String(), 200))
	}
	if v5 {
		return parseSphinx5(out)
	}
	return strings.Join(strings.Fields(string(out)), " "), nil
}

// parseSphinx5 reads `pocketsphinx single`'s JSON lines ({"t": text}).
func parseSphinx5(out []byte) (string, error) {
	var parts []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r struct {
			T string `json:"t"`
		}
		if err := dec.Decode(&r); err != nil {
			return "", fmt.Errorf("pocketsphinx output: %w", err)
		}
		if t := strings.TrimSpace(r.T); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " "), nil
}
