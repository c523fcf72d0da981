package media

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Hearing receives what callers say and the keys they press; the call
// manager (core.Calls) implements it.
type Hearing interface {
	// CallerSpoke is handed each utterance the voice activity detection
	// finds, one at a time per call, in order.
	CallerSpoke(ctx context.Context, callID string, pcm []int16, start, end time.Time)
	// DigitPressed is handed each DTMF key, in order.
	DigitPressed(ctx context.Context, callID, digit, source string)
}

// queued bounds the utterances and digits waiting for Hearing per call;
// beyond it they are dropped (and logged) rather than stall the receiver.
const queued = 32

// errBargeIn ends a playback the caller talked over.
var errBargeIn = errors.New("media: the caller started talking")

// ear is a session's listening: the detector, run on the receiving
// goroutine, and one worker that hands its results to Hearing in order,
// so a slow speech-to-text engine never holds up the RTP.
type ear struct {
	h       Hearing
	vad     *VAD
	work    chan func(context.Context)
	dropped atomic.Int64
}

func newEar(h Hearing, cfg VADConfig) *ear {
	return &ear{h: h, vad: NewVAD(cfg), work: make(chan func(context.Context), queued)}
}

// listen hands work to Hearing until the session closes.
func (s *Session) listen(ctx context.Context) {
	for {
		select {
		case <-s.done:
			return
		case fn := <-s.ear.work:
			fn(ctx)
		}
	}
}

func (s *Session) queue(fn func(context.Context)) {
	select {
	case s.ear.work <- fn:
	default:
		s.log.Warn("hearing queue full: dropped", "call_id", s.callID, "dropped", s.ear.dropped.Add(1))
	}
}

// hearFrame feeds one frame of the caller's audio to the detector; on the
// receiving goroutine. Speech that starts while the server is speaking
// stops it (barge-in).
func (s *Session) hearFrame(codec string, payload []byte, at time.Time) {
	started, u := s.ear.vad.Feed(Decode(codec, payload), at)
	if started {
		s.mu.Lock()
		stop := s.bargeIn
		s.mu.Unlock()
		if stop != nil {
			stop(errBargeIn)
		}
	}
	if u != nil {
		id := s.callID
		s.queue(func(ctx context.Context) { s.ear.h.CallerSpoke(ctx, id, u.PCM, u.Start, u.End) })
	}
}

// hearDigit hands a key press to Hearing.
func (s *Session) hearDigit(digit, source string) {
	id := s.callID
	s.queue(func(ctx context.Context) { s.ear.h.DigitPressed(ctx, id, digit, source) })
}

// Digit reports a key pressed on the call by other means than RTP (SIP
// INFO); the engine hands it to Hearing in order with the rest.
func (e *Engine) Digit(callID, digit, source string) bool {
	s := e.Session(callID)
	if s == nil || s.ear == nil {
		return false
	}
	s.hearDigit(digit, source)
	return true
}
