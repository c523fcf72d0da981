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
func (s *Service) SetAudioFiles(files AudioFiles) { s.audio = files }

// checkAudioFiles checks every local message_audio_url of a's transfer
// destinations, so that a bad one is refused when it is saved, not when a
// caller is waiting for it.
func (s *Service) checkAudioFiles(ctx context.Context, a *AssistantConfig) error {
	if a.LLMConfig == nil {
		return nil
	}
	for i, t := range a.LLMConfig.Tools {
		for j, d := range t.Destinations {
			if d.MessageAudioURL == "" || strings.HasPrefix(d.MessageAudioURL, "https://") {
				continue
			}
			param := indexed(indexed("llm_config.tools", i)+".destinations", j) + ".message_audio_url"
			if err := CheckLocalAudio(ctx, s.audio, param, d.MessageAudioURL); err != nil {
				return err
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
