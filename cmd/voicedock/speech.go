package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"time"

	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/speech"
)

// checkSpeech validates the VOICEDOCK_TTS_* and RTP keepalive settings.
func (c config) checkSpeech() error {
	if c.TTSProvider != "espeak-ng" && c.TTSProvider != "openai" {
		return fmt.Errorf("configuration: VOICEDOCK_TTS_PROVIDER must be espeak-ng or openai")
	}
	if u, err := url.Parse(c.TTSBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("configuration: VOICEDOCK_TTS_BASE_URL must be an http(s) URL")
	}
	if c.TTSCacheMB < 1 || c.TTSCacheMB > 4096 {
		return fmt.Errorf("configuration: VOICEDOCK_TTS_CACHE_MB must be 1-4096")
	}
	if c.RTPKeepalive != 0 && (c.RTPKeepalive < 100*time.Millisecond || c.RTPKeepalive > time.Minute) {
		return fmt.Errorf("configuration: VOICEDOCK_RTP_KEEPALIVE must be 0 (off) or 100ms-1m")
	}
	return nil
}

// media builds the calls' media engine with its speech engines: the
// configured default, and the other one for assistants whose tts_config
// names it.
// hear, when set, is handed what callers say and press; grd gives the
// client that fetches message audio and the folder of local recordings.
func (c config) media(logger *slog.Logger, hear media.Hearing, grd *guards) *media.Engine {
	espeak := &speech.ESpeak{}
	openai := &speech.OpenAI{BaseURL: c.TTSBaseURL, APIKey: c.TTSAPIKey, Model: c.TTSModel}
	var def speech.Engine = espeak
	if c.TTSProvider == "openai" {
		openai.Voice = c.TTSVoice
		def = openai
	} else {
		espeak.Voice = c.TTSVoice
		if _, err := exec.LookPath("espeak-ng"); err != nil {
			logger.Warn("espeak-ng is not installed: calls are answered, but nothing can be spoken with it (apt-get install espeak-ng)")
		}
	}
	keepalive := c.RTPKeepalive
	if keepalive == 0 {
		keepalive = -1
	}
	speaker := speech.NewSpeaker(def, c.TTSCacheMB<<20, grd.fetch, openai, espeak)
	if grd.audio != nil {
		speaker.SetLocalAudio(grd.audio)
	}
	return media.NewEngine(media.Config{
		Speech:            speaker,
		KeepaliveInterval: keepalive,
		Logger:            logger,
		Hearing:           hear,
	})
}
