package main

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/speech"
)

// checkHearing validates the VOICEDOCK_STT_* settings.
func (c config) checkHearing() error {
	switch c.STTProvider {
	case "pocketsphinx", "openai", "none":
	default:
		return fmt.Errorf("configuration: VOICEDOCK_STT_PROVIDER must be pocketsphinx, openai or none")
	}
	if u, err := url.Parse(c.STTBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("configuration: VOICEDOCK_STT_BASE_URL must be an http(s) URL")
	}
	return nil
}

// transcriber is the configured speech-to-text of the callers, nil when
// there is none; the server says so at start, and calls work without it
// (the keys callers press and the server's own lines are still recorded).
func (c config) transcriber(logger *slog.Logger) core.Transcriber {
	var engine speech.Recognizer
	switch c.STTProvider {
	case "none":
		logger.Warn("speech-to-text is off (VOICEDOCK_STT_PROVIDER=none): callers are not transcribed")
		return nil
	case "openai":
		engine = &speech.Transcriptions{BaseURL: c.STTBaseURL, APIKey: c.STTAPIKey, Model: c.STTModel}
	default:
		ps := &speech.PocketSphinx{}
		if !ps.Available() {
			logger.Warn("no speech-to-text engine is available: pocketsphinx is not installed (apt-get install pocketsphinx pocketsphinx-en-us); calls are answered, but callers are not transcribed")
			return nil
		}
		engine = ps
	}
	logger.Info("speech-to-text", "engine", engine.Name())
	return speech.NewListener(engine, 0)
}
