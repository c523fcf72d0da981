package speech_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/audiodir"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/speech"
)

func tone(rate int, d time.Duration) audio.PCM {
	n := int(int64(d) * int64(rate) / int64(time.Second))
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(7000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
	}
	return audio.PCM{Rate: rate, Samples: s}
}

func TestESpeakSpeaksAndCaches(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Fatal("espeak-ng is not installed (scripts/test.sh installs it)")
	}
	s := speech.NewSpeaker(&speech.ESpeak{}, 0, nil)
	u := core.Utterance{Text: "Please hold while I connect you."}
	pcm, err := s.Render(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(len(pcm)) * time.Second / 8000; d < time.Second || audio.RMS(pcm) < 500 {
		t.Fatalf("%s of audio at rms %.0f", d, audio.RMS(pcm))
	}
	again, err := s.Render(context.Background(), u)
	if err != nil || &again[0] != &pcm[0] {
		t.Fatalf("the second rendering was not the cached one (%v)", err)
	}
}

func TestESpeakVoiceIsNeverAnOption(t *testing.T) {
	s := speech.NewSpeaker(&speech.ESpeak{}, 0, nil)
	out := filepath.Join(t.TempDir(), "x.wav")
	for _, v := range []string{"-w" + out, "en us", "../x"} {
		_, err := s.Render(context.Background(), core.Utterance{Text: "hi", Voice: &core.TTSConfig{Provider: "espeak-ng", VoiceID: v}})
		if !core.HasCode(err, core.CodeInvalidRequest) {
			t.Errorf("voice %q: %v", v, err)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("espeak-ng wrote a file named by the voice")
	}
}

func TestESpeakMissingIsUnavailable(t *testing.T) {
	s := speech.NewSpeaker(&speech.ESpeak{Path: filepath.Join(t.TempDir(), "no-espeak")}, 0, nil)
	_, err := s.Render(context.Background(), core.Utterance{Text: "hello"})
	if !core.HasCode(err, core.CodeUnavailable) {
		t.Fatalf("without espeak-ng: %v", err)
	}
}

// The OpenAI-compatible provider against a real HTTP server speaking the
// protocol: POST /v1/audio/speech with a bearer key, WAV back.
func TestOpenAIProvider(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Model, Input, Voice string
			ResponseFormat      string `json:"response_format"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/speech" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, "bad request line", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Input != "Hello" || req.Voice != "nova" || req.ResponseFormat != "wav" || req.Model != "tts-1" {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(audio.EncodeWAV(tone(24000, 700*time.Millisecond)))
	}))
	defer srv.Close()
	o := &speech.OpenAI{BaseURL: srv.URL + "/v1", APIKey: "sk-test", Model: "tts-1", Voice: "alloy"}
	s := speech.NewSpeaker(&speech.ESpeak{}, 0, nil, o)
	u := core.Utterance{Text: "Hello", Voice: &core.TTSConfig{Provider: "openai", VoiceID: "nova"}}
	for range 2 {
		pcm, err := s.Render(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if len(pcm) != 5600 {
			t.Fatalf("%d samples for 700 ms at 8 kHz", len(pcm))
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d requests for the same text: not cached", calls.Load())
	}
	o.APIKey = "wrong"
	_, err := s.Render(context.Background(), core.Utterance{Text: "Other", Voice: u.Voice})
	if !core.HasCode(err, core.CodeUnavailable) {
		t.Fatalf("a refused request: %v", err)
	}
}

func TestRecordings(t *testing.T) {
	wav := audio.EncodeWAV(tone(16000, 500*time.Millisecond))
	var gets atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		if r.URL.Path == "/not.wav" {
			_, _ = w.Write([]byte("<html>"))
			return
		}
		_, _ = w.Write(wav)
	}))
	defer srv.Close()
	folder := t.TempDir()
	path := filepath.Join(folder, "hello.wav")
	if err := os.WriteFile(path, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside.wav")
	if err := os.WriteFile(outside, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	s := speech.NewSpeaker(nil, 0, srv.Client())
	// Without an audio folder, no path plays.
	if _, err := s.Render(t.Context(), core.Utterance{AudioURL: path}); !core.HasCode(err, core.CodeInvalidRequest) || !strings.Contains(err.Error(), "local audio files are off") {
		t.Fatalf("no folder: %v", err)
	}
	dir, err := audiodir.Open(folder)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	s.SetLocalAudio(dir)
	// A file outside the folder and a missing one read the same.
	for _, p := range []string{outside, filepath.Join(folder, "missing.wav")} {
		_, err := s.Render(t.Context(), core.Utterance{AudioURL: p})
		if !core.HasCode(err, core.CodeInvalidRequest) || core.AsError(err).Message != "not found or not a readable WAV in the audio folder" {
			t.Fatalf("%s: %v", p, err)
		}
	}
	for _, src := range []string{srv.URL + "/hello.wav", srv.URL + "/hello.wav", path} {
		pcm, err := s.Render(context.Background(), core.Utterance{AudioURL: src})
		if err != nil || len(pcm) != 4000 {
			t.Fatalf("%s: %d samples, %v", src, len(pcm), err)
		}
	}
	if gets.Load() != 1 {
		t.Fatalf("fetched %d times", gets.Load())
	}
	for _, bad := range []string{srv.URL + "/not.wav", "http://example.com/a.wav", "relative.wav"} {
		if _, err := s.Render(context.Background(), core.Utterance{AudioURL: bad}); !core.HasCode(err, core.CodeInvalidRequest) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestRecordingFetchRefusesInternalAddresses: the default client will not
// fetch message audio from the server's own network.
func TestRecordingFetchRefusesInternalAddresses(t *testing.T) {
	var gets atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gets.Add(1) }))
	defer srv.Close()
	s := speech.NewSpeaker(nil, 0, nil)
	_, err := s.Render(t.Context(), core.Utterance{AudioURL: srv.URL + "/hello.wav"})
	if !core.HasCode(err, core.CodeAddressNotAllowed) || gets.Load() != 0 {
		t.Fatalf("a loopback URL: %v, %d requests", err, gets.Load())
	}
}
