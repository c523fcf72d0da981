package speech

import (
	"context"
	"fmt"
	"time"

	"github.com/voicedock/voicedock/core"
)

// maxUtterance bounds the audio of one utterance sent to an engine.
const maxUtterance = time.Minute

// Recognizer is a speech-to-text engine.
type Recognizer interface {
	// Name is the engine's name in logs and the configuration.
	Name() string
	// Recognize returns what was said in pcm (8 kHz mono); language is
	// stt_config.language ("" for the engine's default).
	Recognize(ctx context.Context, pcm []int16, language string) (string, error)
}

// Listener implements core.Transcriber with one engine, bounding what
// each utterance may cost.
type Listener struct {
	engine  Recognizer
	timeout time.Duration
}

var _ core.Transcriber = (*Listener)(nil)

// NewListener transcribes with engine, each utterance within timeout
// (30 s when 0).
func NewListener(engine Recognizer, timeout time.Duration) *Listener {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Listener{engine: engine, timeout: timeout}
}

// Engine is the listener's engine.
func (l *Listener) Engine() Recognizer { return l.engine }

// Transcribe implements core.Transcriber.
func (l *Listener) Transcribe(ctx context.Context, pcm []int16, language string) (string, error) {
	if max := int(maxUtterance / time.Second * 8000); len(pcm) > max {
		pcm = pcm[:max]
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	text, err := l.engine.Recognize(ctx, pcm, language)
	if err != nil {
		return "", fmt.Errorf("%s: %w", l.engine.Name(), err)
	}
	return text, nil
}
