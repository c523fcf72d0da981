package media

import (
	"context"
	"time"
)

const frameDur = 20 * time.Millisecond

// playLocked sends pcm (8 kHz) as 20 ms frames, paced by the clock from
// the start (so the timer's jitter does not add up), and returns once the
// last frame is sent; s.playMu is held. Frames fall due while the far
// side holds the call are not sent, but the time passes: what it says is
// not replayed later.
func (s *Session) playLocked(ctx context.Context, pcm []int16) error {
	s.playing.Store(true)
	defer s.playing.Store(false)
	frames := (len(pcm) + frameSamples - 1) / frameSamples
	payload := make([]byte, frameSamples)
	frame := make([]int16, frameSamples)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for i := 0; i < frames; i++ {
		if i > 0 {
			t.Reset(time.Until(start.Add(time.Duration(i) * frameDur)))
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return errSessionClosed
			}
		}
		n := copy(frame, pcm[i*frameSamples:])
		clear(frame[n:])
		encode(s.Params().Codec, payload, frame)
		s.sendFrame(payload, i > 0)
	}
	return nil
}
