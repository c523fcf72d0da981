package core

import (
	"context"
	"strings"
)

// AudioFiles checks the local recordings message_audio_url names (an
// absolute path rather than an https URL). The adapter resolves them
// inside the one folder the operator configured; see audiodir.
type AudioFiles interface {
	// CheckAudio returns an error when ref is not a readable WAV in the
	// folder. Its text is not shown: every refusal reads the same.
	CheckAudio(ctx context.Context, ref string) error
}

// Refusals of a local recording. They say no more than this, so that a
// client cannot probe the server's files through them.
const (
	audioNotReadable = "not found or not a readable WAV in the audio folder"
	audioDirOff      = "local audio files are off (no audio folder is configured); use an https URL"
)

// SetAudioFiles lets assistants name local recordings found in files; nil
// (the default) refuses every local path.
func (c *Configuration) SetAudioFiles(files AudioFiles) { c.audio = files }

// WebhookGuard checks a webhook URL a tool sets against the addresses
// outbound requests may reach; it returns an error whose text may be
// shown. The deliveries are checked again on every connection (netguard):
// this only refuses early what can be told from the URL alone.
type WebhookGuard func(ctx context.Context, rawURL string) error

// SetWebhookGuard makes saved webhook URLs pass g; nil checks nothing.
func (c *Configuration) SetWebhookGuard(g WebhookGuard) { c.webhookGuard = g }

// checkReferences checks what an assistant points the server at, beyond
// the form ValidateAssistant checks: local recordings and webhook URLs.
func (c *Configuration) checkReferences(ctx context.Context, a *AssistantConfig) error {
	if err := c.checkAudioFiles(ctx, a); err != nil {
		return err
	}
	if c.webhookGuard == nil {
		return nil
	}
	check := func(param, u string) error {
		if u == "" {
			return nil
		}
		if err := c.webhookGuard(ctx, u); err != nil {
			return FieldError(CodeAddressNotAllowed, param, "%v", err)
		}
		return nil
	}
	if err := check("webhook_url", a.WebhookURL); err != nil {
		return err
	}
	if a.LLMConfig != nil {
		for i, t := range a.LLMConfig.Tools {
			if err := check(indexed("llm_config.tools", i)+".url", t.URL); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAudioFiles checks every local message_audio_url and hold_audio_url of a's transfer
// destinations, so that a bad one is refused when it is saved, not when a
// caller is waiting for it.
func (c *Configuration) checkAudioFiles(ctx context.Context, a *AssistantConfig) error {
	if a.LLMConfig == nil {
		return nil
	}
	for i, t := range a.LLMConfig.Tools {
		for j, d := range t.Destinations {
			prefix := indexed(indexed("llm_config.tools", i)+".destinations", j)
			for _, f := range []struct{ name, ref string }{{"message_audio_url", d.MessageAudioURL}, {"hold_audio_url", d.HoldAudioURL}} {
				if f.ref == "" || strings.HasPrefix(f.ref, "https://") {
					continue
				}
				if err := CheckLocalAudio(ctx, c.audio, prefix+"."+f.name, f.ref); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// CheckLocalAudio refuses ref, a local recording, unless files has it.
func CheckLocalAudio(ctx context.Context, files AudioFiles, param, ref string) error {
	if files == nil {
		return FieldError(CodeInvalidRequest, param, audioDirOff)
	}
	if files.CheckAudio(ctx, ref) != nil {
		return FieldError(CodeInvalidRequest, param, audioNotReadable)
	}
	return nil
}
