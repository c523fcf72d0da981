package media

import (
	"context"
	"errors"
	"sync"
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

// queued bounds the utterances, and the keys, waiting for Hearing per
// call; beyond it they are dropped (and logged) rather than stall the
// receiver.
const queued = 32

// errBargeIn ends a playback the caller talked over.
var errBargeIn = errors.New("media: the caller started talking")

// ear is a session's listening: the detector, run on the receiving
// goroutine, and two queues that hand its results to Hearing in order, so
// a slow speech-to-text engine never holds up the RTP. Speech and keys are
// worked through apart: a key is not held up by the transcription of the
// utterance before it. A queue has a goroutine only while it has work: an
// idle call still costs only its receiver.
type ear struct {
	h Hearing

	mu    sync.Mutex
	vad   *VAD
	last  time.Time   // when the last frame was heard
	quiet *time.Timer // ends an utterance when the packets stop

	speech, keys workQueue
	dropped      atomic.Int64
}

func newEar(h Hearing, cfg VADConfig) *ear {
	return &ear{h: h, vad: NewVAD(cfg)}
}

// workQueue runs its functions one at a time, in order, on a goroutine
// started when work arrives and gone when there is none.
type workQueue struct {
	mu      sync.Mutex
	q       []func(context.Context)
	running bool
}

func (w *workQueue) push(ctx context.Context, fn func(context.Context)) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q) >= queued {
		return false
	}
	w.q = append(w.q, fn)
	if !w.running {
		w.running = true
		go w.run(ctx)
	}
	return true
}

func (w *workQueue) run(ctx context.Context) {
	for {
		w.mu.Lock()
		if len(w.q) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		fn := w.q[0]
		w.q[0] = nil
		w.q = w.q[1:]
		w.mu.Unlock()
		fn(ctx)
	}
}

func (s *Session) queue(w *workQueue, fn func(context.Context)) {
	if !w.push(s.bg, fn) {
		s.log.Warn("hearing queue full: dropped", "call_id", s.callID, "dropped", s.ear.dropped.Add(1))
	}
}

// hearFrame feeds one frame of the caller's audio to the detector; on the
// receiving goroutine. Speech that starts while the server is speaking
// stops it (barge-in).
func (s *Session) hearFrame(codec string, payload []byte, at time.Time) {
	e := s.ear
	e.mu.Lock()
	started, u := e.vad.Feed(Decode(codec, payload), at)
	e.last = at
	if e.vad.Speaking() {
		// A phone that suppresses silence (DTX) sends nothing after the
		// speech: the end is then the packets stopping.
		if e.quiet == nil {
			e.quiet = time.AfterFunc(e.vad.cfg.Hangover, s.hearQuiet)
		} else {
			e.quiet.Reset(e.vad.cfg.Hangover)
		}
	}
	e.mu.Unlock()
	if started {
		s.mu.Lock()
		stop := s.bargeIn
		s.mu.Unlock()
		if stop != nil {
			stop(errBargeIn)
		}
	}
	s.heardUtterance(u)
}

// hearQuiet ends an utterance whose packets stopped coming.
func (s *Session) hearQuiet() {
	e := s.ear
	e.mu.Lock()
	var u *Utterance
	if e.vad.Speaking() && time.Since(e.last) >= e.vad.cfg.Hangover-frameDur {
		u = e.vad.Flush(e.last.Add(frameDur))
	}
	e.mu.Unlock()
	s.heardUtterance(u)
}

func (s *Session) heardUtterance(u *Utterance) {
	if u == nil || s.closed.Load() {
		return
	}
	s.log.Debug("utterance heard", "call_id", s.callID, "duration", u.End.Sub(u.Start))
	id := s.callID
	s.queue(&s.ear.speech, func(ctx context.Context) { s.ear.h.CallerSpoke(ctx, id, u.PCM, u.Start, u.End) })
}

// hearDigit hands a key press to Hearing.
func (s *Session) hearDigit(digit, source string) {
	id := s.callID
	s.queue(&s.ear.keys, func(ctx context.Context) { s.ear.h.DigitPressed(ctx, id, digit, source) })
}

// Digit reports a key pressed on the call by other means than RTP (SIP
// INFO); the engine hands it to Hearing in order with the rest.
func (e *Engine) Digit(callID, digit, source string) bool {
	s := e.Session(callID)
	if s == nil {
		return false
	}
	s.signals.digit(digit)
	if s.ear == nil {
		return s.signals.listening()
	}
	s.hearDigit(digit, source)
	return true
}
