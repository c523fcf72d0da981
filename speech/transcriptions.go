package speech

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
)

// Transcriptions recognises speech through an HTTP service compatible
// with OpenAI's POST {base}/audio/transcriptions: OpenAI's Whisper, and
// the self-hosted Whisper servers that speak the same API.
type Transcriptions struct {
	// BaseURL is up to and including /v1 ("https://api.openai.com/v1").
	BaseURL string
	APIKey  string
	Model   string // "whisper-1" by default
	Client  *http.Client
}

// Name is the engine's configuration name.
func (t *Transcriptions) Name() string { return "openai" }

// Recognize uploads the utterance as an 8 kHz WAV with the language, if
// any, and returns the service's text.
func (t *Transcriptions) Recognize(ctx context.Context, pcm []int16, language string) (string, error) {
	model := t.Model
	if model == "" {
		model = "whisper-1"
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, err := w.CreateFormFile("file", "utterance.wav")
	if err != nil {
		return "", fmt.Errorf("transcription request: %w", err)
	}
	if _, err := fw.Write(audio.EncodeWAV(audio.PCM{Rate: audio.Rate8k, Samples: pcm})); err != nil {
		return "", fmt.Errorf("transcription request: %w", err)
	}
	fields := map[string]string{"model": model, "response_format": "json"}
	if language != "" {
		fields["language"] = language
	}
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			return "", fmt.Errorf("transcription request: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("transcription request: %w", err)
	}
	url := strings.TrimRight(t.BaseURL, "/") + "/audio/transcriptions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return "", fmt.Errorf("transcription request: %w", err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	client := t.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return "", &core.Error{Code: core.CodeUnavailable, Message: "the transcription service could not be reached: " + err.Error()}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", &core.Error{Code: core.CodeUnavailable, Message: "reading the transcription service's answer: " + err.Error()}
	}
	if res.StatusCode != http.StatusOK {
		return "", &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("the transcription service answered %d: %s", res.StatusCode, clip(string(b), 200))}
	}
	var out struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Text == nil {
		return "", fmt.Errorf("the transcription service's answer has no text: %s", clip(string(b), 200))
	}
	return strings.TrimSpace(*out.Text), nil
}
