package media

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicedock/voicedock/core"
)

var _ core.LegMedia = (*Engine)(nil)

// signalQueue bounds the signals waiting for a listener; beyond it they
// are dropped rather than stall the receiver.
const signalQueue = 16

// legSignals hands the keys pressed and the starts of speech heard on a
// session to its listeners: a transfer waiting on its own call for the
// human to speak or to accept (core.LegMedia.Listen). It has its own
// voice activity detector, fed only while someone listens, rather than
// the ear's: the ear hands whole utterances over after their end, and a
// listener wants to know the moment speech starts.
type legSignals struct {
	n atomic.Int32 // listeners, read on every packet

	mu   sync.Mutex
	subs map[chan core.LegSignal]struct{}
	vad  *VAD
}

// listening reports whether anyone listens.
func (l *legSignals) listening() bool { return l.n.Load() > 0 }

func (l *legSignals) add(cfg VADConfig) chan core.LegSignal {
	ch := make(chan core.LegSignal, signalQueue)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.subs == nil {
		l.subs = map[chan core.LegSignal]struct{}{}
	}
	if len(l.subs) == 0 {
		l.vad = NewVAD(cfg) // what was heard before is nobody's
	}
	l.subs[ch] = struct{}{}
	l.n.Add(1)
	return ch
}

func (l *legSignals) remove(ch chan core.LegSignal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[ch]; ok {
		delete(l.subs, ch)
		l.n.Add(-1)
		close(ch)
	}
}

// publishLocked hands s to every listener; l.mu is held (so no channel
// is closed meanwhile).
func (l *legSignals) publishLocked(s core.LegSignal) {
	for ch := range l.subs {
		select {
		case ch <- s:
		default:
		}
	}
}

// digit reports a key pressed.
func (l *legSignals) digit(d string) {
	if !l.listening() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.publishLocked(core.LegSignal{Digit: d})
}

// frame feeds one frame of the far side's audio to the detector.
func (l *legSignals) frame(codec string, payload []byte, at time.Time) {
	if !l.listening() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.vad == nil {
		return
	}
	if started, _ := l.vad.Feed(Decode(codec, payload), at); started {
		l.publishLocked(core.LegSignal{Speech: true})
	}
}

// Listen reports the keys pressed (RFC 4733 or SIP INFO) and the starts
// of speech on the call from now on, until ctx ends or the call's media
// does (the channel is closed then).
func (e *Engine) Listen(ctx context.Context, callID string) (<-chan core.LegSignal, error) {
	s, err := e.live(callID)
	if err != nil {
		return nil, err
	}
	ch := s.signals.add(e.cfg.VAD)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		s.signals.remove(ch)
	}()
	return ch, nil
}
