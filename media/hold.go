package media

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicedock/voicedock/core"
)

// holdChunk is how many frames hold audio sends per turn at the
// session's playback: between turns a Say (say_call) can take it.
const holdChunk = 50

// Ringback is one cycle of the North American ringback tone (ANSI
// T1.401): 440 Hz and 480 Hz together for 2 s, then 4 s of silence, at
// 8 kHz. It is what a caller waiting for a human hears unless the
// destination has hold audio: the sound of a phone ringing, which tells
// them the call is going somewhere, where silence sounds like a dropped
// call.
func Ringback() []int16 {
	const rate = 8000
	out := make([]int16, 6*rate)
	for i := range 2 * rate {
		// 5 ms ramps at each end, so that the tone starts and stops
		// without a click.
		env := min(1, float64(i)/40, float64(2*rate-i)/40)
		t := float64(i) / rate
		// Each tone at about -16 dBm0, as the standard's -19 dBm0 per
		// tone is faint through a mobile's loudspeaker.
		v := 3000 * env * (math.Sin(2*math.Pi*440*t) + math.Sin(2*math.Pi*480*t))
		out[i] = int16(v)
	}
	return out
}

// Hold plays hold audio to the call until stop is called or the call
// ends: the recording at audioURL looped, or, while it is fetched, when it
// is "" or when it cannot be played, the ringback tone. The audio is
// paced continuously across loops, as one talkspurt.
func (e *Engine) Hold(ctx context.Context, callID, audioURL string) (func(), error) {
	s, err := e.live(callID)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	src := &holdSource{}
	src.set(e.ringback)
	if audioURL != "" {
		if e.cfg.Speech == nil {
			e.log.Warn("hold audio: no speech engine to read it; ringback instead", "call_id", callID)
		} else {
			go func() {
				// The recording is validated and capped as message audio
				// is (the speaker: https only, no internal address, a WAV
				// within its limits); the caller hears ringback meanwhile.
				pcm, err := e.cfg.Speech.Render(hctx, core.Utterance{AudioURL: audioURL})
				switch {
				case hctx.Err() != nil:
				case err != nil || len(pcm) == 0:
					e.log.Warn("hold audio cannot be played; ringback instead", "call_id", callID, "err", err)
				default:
					src.set(pcm)
				}
			}()
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.loop(hctx, src)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}, nil
}

// holdSource is what hold audio loops; it changes once a recording has
// been fetched.
type holdSource struct {
	pcm atomic.Pointer[[]int16]
}

func (h *holdSource) set(pcm []int16) { h.pcm.Store(&pcm) }
func (h *holdSource) get() *[]int16   { return h.pcm.Load() }

// loop sends src's audio, looped, 20 ms a frame, paced by the clock from
// the start so that the timer's jitter does not add up, until ctx ends or
// the session closes. It takes the session's playback holdChunk frames at
// a time; when something else played in between, the pacing starts again.
func (s *Session) loop(ctx context.Context, src *holdSource) {
	payload := make([]byte, frameSamples)
	frame := make([]int16, frameSamples)
	cur := src.get()
	pos := 0
	next := time.Now()
	continues := false
	var sent time.Time // when this loop last sent a frame
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for ctx.Err() == nil {
		s.playMu.Lock()
		s.playing.Store(true)
		// Another playback took its turn (a Say): start a new talkspurt
		// on the clock. A loop that merely ran late (a busy machine)
		// catches up instead, in the same talkspurt.
		if last := s.lastSent(); continues && last.After(sent) {
			next, continues = time.Now(), false
		}
		for range holdChunk {
			if d := time.Until(next); d > 0 {
				t.Reset(d)
				select {
				case <-t.C:
				case <-ctx.Done():
				case <-s.done:
				}
			}
			if ctx.Err() != nil || s.closed.Load() {
				break
			}
			if p := src.get(); p != cur {
				cur, pos = p, 0 // a recording starts from its beginning
			}
			pcm := *cur
			for i := range frame {
				frame[i] = pcm[(pos+i)%len(pcm)]
			}
			pos = (pos + frameSamples) % len(pcm)
			encode(s.Params().Codec, payload, frame)
			s.sendFrame(payload, continues)
			sent = s.lastSent()
			continues = true
			next = next.Add(frameDur)
		}
		s.playing.Store(false)
		s.playMu.Unlock()
		if s.closed.Load() {
			return
		}
	}
}

// lastSent is when the session last sent a packet.
func (s *Session) lastSent() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSend
}
