package speech

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
)

// OpenAI speaks through an HTTP service compatible with OpenAI's
// POST {base}/audio/speech, asking for WAV.
type OpenAI struct {
	// BaseURL is up to and including /v1 ("https://api.openai.com/v1").
	BaseURL string
	APIKey  string
	Model   string // "gpt-4o-mini-tts" by default
	Voice   string // "alloy" by default
	Client  *http.Client
}

// Name is the engine's provider name in tts_config.
func (o *OpenAI) Name() string { return "openai" }

// Synthesize asks the service for text spoken with voice at speed.
func (o *OpenAI) Synthesize(ctx context.Context, text, voice string, speed float64) (audio.PCM, error) {
	if voice == "" {
		voice = o.Voice
	}
	if voice == "" {
		voice = "alloy"
	}
	model := o.Model
	if model == "" {
		model = "gpt-4o-mini-tts"
	}
	req := map[string]any{"model": model, "input": text, "voice": voice, "response_format": "wav"}
	if speed > 0 {
		req["speed"] = speed
	}
	body, _ := json.Marshal(req)
	url := strings.TrimRight(o.BaseURL, "/") + "/audio/speech"
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return audio.PCM{}, fmt.Errorf("tts request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if o.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	client := o.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(hr)
	if err != nil {
		return audio.PCM{}, &core.Error{Code: core.CodeUnavailable, Message: "the speech service could not be reached: " + err.Error()}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxDownload+1))
	if err != nil {
		return audio.PCM{}, &core.Error{Code: core.CodeUnavailable, Message: "reading the speech service's answer: " + err.Error()}
	}
	if res.StatusCode != http.StatusOK {
		return audio.PCM{}, &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("the speech service answered %d: %s", res.StatusCode, clip(string(b), 200))}
	}
	if len(b) > maxDownload {
		return audio.PCM{}, fmt.Errorf("the speech service's audio is over %d bytes", maxDownload)
	}
	p, err := audio.DecodeWAV(b, maxSpeech)
	if err != nil {
		return audio.PCM{}, fmt.Errorf("the speech service's audio: %w", err)
	}
	return p.To8k(), nil
}
