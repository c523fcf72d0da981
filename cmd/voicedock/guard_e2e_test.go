package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/audio"
)

// TestToolInputReachesOnlyWhatItShould drives the binary: a local
// recording is accepted only inside VOICEDOCK_AUDIO_DIR, with one message
// for every refusal, and a webhook URL at an internal address is refused
// when saved, while the default loopback receiver stays allowed.
func TestToolInputReachesOnlyWhatItShould(t *testing.T) {
	t.Parallel()
	folder := t.TempDir()
	wav := audio.EncodeWAV(audio.PCM{Rate: 8000, Samples: make([]int16, 800)})
	if err := os.WriteFile(filepath.Join(folder, "hold.wav"), wav, 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.wav")
	if err := os.WriteFile(outside, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(folder, "link.wav")); err != nil {
		t.Fatal(err)
	}
	c, _ := stdioServer(t, t.TempDir(), "VOICEDOCK_AUDIO_DIR="+folder)
	withAudio := func(path string) string {
		return `{"name":"A","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"sip","sip_uri":"sip:desk@127.0.0.1","description":"desk","message_audio_url":"` + path + `"}]}]}}`
	}
	mustCall(t, c, "create_assistant", withAudio(filepath.Join(folder, "hold.wav")))
	for _, p := range []string{outside, filepath.Join(folder, "link.wav"), filepath.Join(folder, "missing.wav"), "/etc/passwd", "/dev/zero"} {
		r := call(t, c, "create_assistant", withAudio(p))
		if r.errorCode() != "invalid_request" || !strings.Contains(r.text, "not found or not a readable WAV in the audio folder") ||
			r.errorParam() != "llm_config.tools[0].destinations[0].message_audio_url" {
			t.Errorf("%s: %s", p, r.text)
		}
	}
	r := call(t, c, "create_assistant", `{"name":"B","webhook_url":"http://169.254.169.254/latest/meta-data"}`)
	if r.errorCode() != "address_not_allowed" || r.errorParam() != "webhook_url" {
		t.Errorf("metadata webhook: %s", r.text)
	}
	mustCall(t, c, "create_assistant", `{"name":"C","webhook_url":"http://127.0.0.1:9/hook"}`)
	if list := mustCall(t, c, "list_assistants", `{}`); list.structured["pagination"].(map[string]any)["total"] != float64(2) {
		t.Errorf("assistants stored: %s", list.json)
	}
}
