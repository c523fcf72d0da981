package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// audioFiles has exactly the listed recordings.
type audioFiles map[string]bool

func (f audioFiles) CheckAudio(_ context.Context, ref string) error {
	if f[ref] {
		return nil
	}
	return errors.New("open /srv/audio/x.wav: permission denied") // never shown
}

func withAudio(ref string) core.AssistantConfig {
	return core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: core.ToolTransferCall, Destinations: []core.Destination{
			{Type: "sip", SIPURI: "sip:desk@127.0.0.1", Description: "desk", MessageAudioURL: ref},
		},
	}}}}
}

// TestLocalAudioIsCheckedWhenSaved: a local recording is refused when the
// assistant is saved, not when a caller waits for it, and the refusal
// says nothing about the file.
func TestLocalAudioIsCheckedWhenSaved(t *testing.T) {
	ctx := t.Context()
	svc := core.NewService(openStore(t), slog.New(slog.DiscardHandler))
	const param = "llm_config.tools[0].destinations[0].message_audio_url"

	// No audio folder: no local path at all.
	_, err := svc.CreateAssistant(ctx, withAudio("/srv/audio/hold.wav"))
	if !core.HasCode(err, core.CodeInvalidRequest) || core.AsError(err).Param != param || !strings.Contains(err.Error(), "local audio files are off") {
		t.Fatalf("without a folder: %v", err)
	}
	// https needs no folder.
	if _, err := svc.CreateAssistant(ctx, withAudio("https://audio.example.com/hold.wav")); err != nil {
		t.Fatal(err)
	}

	svc.SetAudioFiles(audioFiles{"/srv/audio/hold.wav": true})
	_, err = svc.CreateAssistant(ctx, withAudio("/etc/shadow"))
	if !core.HasCode(err, core.CodeInvalidRequest) || core.AsError(err).Param != param ||
		core.AsError(err).Message != "not found or not a readable WAV in the audio folder" {
		t.Fatalf("a file outside: %v", err)
	}
	a, err := svc.CreateAssistant(ctx, withAudio("/srv/audio/hold.wav"))
	if err != nil {
		t.Fatal(err)
	}
	// An update is checked too, and a refused one changes nothing.
	patch, _ := json.Marshal(withAudio("/srv/audio/missing.wav"))
	if _, err := svc.UpdateAssistant(ctx, a.ID, patch); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Fatalf("update: %v", err)
	}
	got, err := svc.GetAssistant(ctx, a.ID)
	if err != nil || got.LLMConfig.Tools[0].Destinations[0].MessageAudioURL != "/srv/audio/hold.wav" {
		t.Fatalf("after a refused update: %+v %v", got.LLMConfig, err)
	}
}
