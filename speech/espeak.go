package speech

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
)

// ESpeak runs espeak-ng (Debian's espeak-ng package) for each text. It
// writes 22,050 Hz WAV and has no option for another rate, so the audio is
// resampled to 8 kHz in Go (audio.Resample) rather than by a second
// program such as sox.
type ESpeak struct {
	// Path of the binary; "espeak-ng" on PATH by default.
	Path string
	// Voice when the utterance names none ("en-us" by default).
	Voice string
}

// Name is the engine's provider name in tts_config.
func (e *ESpeak) Name() string { return "espeak-ng" }

// Synthesize speaks text with voice ("" for the default) at speed (1 is
// normal).
func (e *ESpeak) Synthesize(ctx context.Context, text, voice string, speed float64) (audio.PCM, error) {
	path := e.Path
	if path == "" {
		path = "espeak-ng"
	}
	if voice == "" {
		voice = e.Voice
	}
	if voice == "" {
		voice = "en-us"
	}
	if !validVoice(voice) {
		// The voice comes from an assistant's tts_config: never let it
		// become an option (-w FILE writes anywhere).
		return audio.PCM{}, core.FieldError(core.CodeInvalidRequest, "tts_config.voice_id", "%q is not an espeak-ng voice name", clip(voice, 40))
	}
	bin, err := exec.LookPath(path)
	if err != nil {
		return audio.PCM{}, &core.Error{Code: core.CodeUnavailable, Message: "speech is unavailable: espeak-ng is not installed (apt-get install espeak-ng)"}
	}
	wpm := 175
	if speed > 0 {
		wpm = int(175 * speed)
	}
	// The text goes on stdin, never as an argument an option could hide in.
	cmd := exec.CommandContext(ctx, bin, "--stdout", "--stdin", "-v", voice, "-s", strconv.Itoa(wpm))
	cmd.Stdin = bytes.NewBufferString(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return audio.PCM{}, ctx.Err()
		}
		return audio.PCM{}, fmt.Errorf("espeak-ng: %w: %s", err, clip(stderr.String(), 200))
	}
	p, err := audio.DecodeWAV(out, maxSpeech)
	if err != nil {
		return audio.PCM{}, fmt.Errorf("espeak-ng output: %w", err)
	}
	if len(p.Samples) == 0 {
		return audio.PCM{}, errors.New("espeak-ng produced no audio")
	}
	return p.To8k(), nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// validVoice accepts espeak-ng voice names ("en-us", "mb-nl2", "en+f3").
func validVoice(v string) bool {
	if v == "" || len(v) > 40 || v[0] == '-' {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '+' || r == '_') {
			return false
		}
	}
	return true
}
