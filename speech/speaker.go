package speech

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/netguard"
)

// Limits on what is played.
const (
	maxSpeech   = 2 * time.Minute // one utterance or recording
	maxDownload = 16 << 20        // bytes of one WAV
)

// Engine synthesises speech.
type Engine interface {
	// Name is the provider name tts_config uses for it.
	Name() string
	// Synthesize returns text spoken with voice ("" for the engine's
	// default) at speed (0 for normal), at 8 kHz.
	Synthesize(ctx context.Context, text, voice string, speed float64) (audio.PCM, error)
}

// Speaker implements core.Speech with a default engine, optional others
// chosen by tts_config.provider, and a cache.
type Speaker struct {
	def     Engine
	engines map[string]Engine
	cache   *cache
	flight  singleflight.Group
	client  *http.Client
	// local reads recordings named by a path; nil refuses every path.
	local LocalAudio
}

// LocalAudio reads the recordings message_audio_url names by a path, from
// the one folder the operator configured (audiodir.Dir).
type LocalAudio interface {
	ReadFile(ref string) ([]byte, error)
}

// SetLocalAudio lets message_audio_url name files that local has; without
// it, only https URLs play.
func (s *Speaker) SetLocalAudio(local LocalAudio) { s.local = local }

var _ core.Speech = (*Speaker)(nil)

// NewSpeaker speaks with def unless an utterance's tts_config names
// another of engines; cacheBytes bounds the cache (default 64 MiB).
// client fetches message_audio_url; nil is a netguard client that
// refuses internal addresses.
func NewSpeaker(def Engine, cacheBytes int, client *http.Client, engines ...Engine) *Speaker {
	if cacheBytes <= 0 {
		cacheBytes = 64 << 20
	}
	if client == nil {
		client = netguard.NewClient(netguard.Config{HTTPSOnly: true, Timeout: 15 * time.Second})
	}
	s := &Speaker{def: def, engines: map[string]Engine{}, cache: newCache(cacheBytes), client: client}
	for _, e := range append([]Engine{def}, engines...) {
		if e != nil {
			s.engines[e.Name()] = e
		}
	}
	return s
}

// Render returns u as 8 kHz samples: the recording at u.AudioURL, or
// u.Text synthesised.
func (s *Speaker) Render(ctx context.Context, u core.Utterance) ([]int16, error) {
	if u.AudioURL != "" {
		return s.recording(ctx, u.AudioURL)
	}
	text := strings.TrimSpace(u.Text)
	if text == "" {
		return nil, core.FieldError(core.CodeInvalidRequest, "message", "nothing to say")
	}
	eng, voice, speed := s.def, "", 0.0
	if v := u.Voice; v != nil {
		// A provider we do not have (a VoiceDock configuration naming
		// elevenlabs) speaks with the default engine and its own voice:
		// better than silence, and that voice_id would mean nothing here.
		if e, ok := s.engines[strings.ToLower(v.Provider)]; ok {
			eng, voice = e, v.VoiceID
		}
		if v.Speed != nil {
			speed = *v.Speed
		}
	}
	if eng == nil {
		return nil, &core.Error{Code: core.CodeUnavailable, Message: "no text-to-speech engine is configured"}
	}
	key := fmt.Sprintf("tts\x00%s\x00%s\x00%g\x00%s", eng.Name(), voice, speed, text)
	return s.rendered(ctx, key, func(ctx context.Context) ([]int16, error) {
		p, err := eng.Synthesize(ctx, text, voice, speed)
		return p.Samples, err
	})
}

// recording fetches, validates and caches a pre-recorded WAV: an https
// URL or a local file path.
func (s *Speaker) recording(ctx context.Context, src string) ([]int16, error) {
	return s.rendered(ctx, "url\x00"+src, func(ctx context.Context) ([]int16, error) {
		return s.load(ctx, src)
	})
}

// load reads and decodes the recording at src, resampled to 8 kHz.
func (s *Speaker) load(ctx context.Context, src string) ([]int16, error) {
	var b []byte
	var err error
	switch {
	case strings.HasPrefix(src, "https://"):
		b, err = s.fetch(ctx, src)
	case strings.HasPrefix(src, "/"):
		return s.localRecording(src)
	default:
		return nil, core.FieldError(core.CodeInvalidRequest, "message_audio_url", "%q is neither an https URL nor an absolute file path", clip(src, 80))
	}
	if err != nil {
		return nil, err
	}
	p, err := audio.DecodeWAV(b, maxSpeech)
	if err != nil {
		return nil, core.FieldError(core.CodeInvalidRequest, "message_audio_url", "%s: %v", clip(src, 80), err)
	}
	return p.To8k().Samples, nil
}

func (s *Speaker) fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, core.FieldError(core.CodeInvalidRequest, "message_audio_url", "%v", err)
	}
	res, err := s.client.Do(req)
	if errors.Is(err, netguard.ErrRefused) {
		return nil, core.FieldError(core.CodeAddressNotAllowed, "message_audio_url", "the audio URL leads to an internal address, which the server does not fetch from")
	}
	if err != nil {
		return nil, &core.Error{Code: core.CodeUnavailable, Message: "fetching the message audio: " + err.Error()}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("fetching the message audio: %s answered %d", clip(url, 80), res.StatusCode)}
	}
	return readLimited(res.Body)
}

// localRecording reads a recording from the audio folder. Whatever goes
// wrong, the error says the same, so that a client cannot tell a missing
// file from an unreadable one or one outside the folder.
func (s *Speaker) localRecording(ref string) ([]int16, error) {
	if s.local == nil {
		return nil, core.FieldError(core.CodeInvalidRequest, "message_audio_url", "local audio files are off (no audio folder is configured); use an https URL")
	}
	notReadable := core.FieldError(core.CodeInvalidRequest, "message_audio_url", "not found or not a readable WAV in the audio folder")
	b, err := s.local.ReadFile(ref)
	if err != nil {
		return nil, notReadable
	}
	p, err := audio.DecodeWAV(b, maxSpeech)
	if err != nil {
		return nil, notReadable
	}
	return p.To8k().Samples, nil
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDownload+1))
	if err != nil {
		return nil, &core.Error{Code: core.CodeUnavailable, Message: "reading the message audio: " + err.Error()}
	}
	if len(b) > maxDownload {
		return nil, core.FieldError(core.CodeInvalidRequest, "message_audio_url", "the audio is over %d MiB", maxDownload>>20)
	}
	return b, nil
}
