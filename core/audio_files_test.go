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
	svc := core.NewConfiguration(openStore(t), slog.New(slog.DiscardHandler))
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

// TestWebhookGuardOnSave: a webhook URL the guard refuses is
// address_not_allowed when saved, naming the field; nothing is stored.
func TestWebhookGuardOnSave(t *testing.T) {
	ctx := t.Context()
	svc := core.NewConfiguration(openStore(t), slog.New(slog.DiscardHandler))
	svc.SetWebhookGuard(func(_ context.Context, u string) error {
		if strings.Contains(u, "169.254.169.254") {
			return errors.New("169.254.169.254: the address is internal")
		}
		return nil
	})
	_, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", WebhookURL: "http://169.254.169.254/latest"})
	if !core.HasCode(err, core.CodeAddressNotAllowed) || core.AsError(err).Param != "webhook_url" {
		t.Fatalf("webhook_url: %v", err)
	}
	fn := core.AssistantConfig{Name: "B", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{Type: "function", Name: "lookup",
		Description: "look up", URL: "http://169.254.169.254/x"}}}}
	if _, err := svc.CreateAssistant(ctx, fn); !core.HasCode(err, core.CodeAddressNotAllowed) || core.AsError(err).Param != "llm_config.tools[0].url" {
		t.Fatalf("function url: %v", err)
	}
	if list, total, _ := svc.ListAssistants(ctx, core.Page{}); total != 0 {
		t.Fatalf("stored %v", list)
	}
	if _, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "C", WebhookURL: "https://hooks.example.com/x"}); err != nil {
		t.Fatal(err)
	}
}
