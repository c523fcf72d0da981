package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicedock/voicedock/core"
)

// DefaultKeepaliveInterval is how often an idle call is sent a packet of
// silence.
const DefaultKeepaliveInterval = time.Second

var errSessionClosed = errors.New("media: the call's media has ended")

// Config configures an Engine.
type Config struct {
	// Speech renders what Say says; nil: Say answers unavailable.
	Speech core.Speech
	// KeepaliveInterval between silence packets to idle calls; default
	// DefaultKeepaliveInterval, negative: none.
	KeepaliveInterval time.Duration
	Logger            *slog.Logger
	// Hearing, when set, is handed the callers' utterances (found by
	// voice activity detection tuned by VAD) and DTMF keys; the caller
	// talking also stops what the server is saying (barge-in).
	Hearing Hearing
	VAD     VADConfig
	// AMD tunes the answering-machine detection of DetectVoicemail.
	AMD AMDConfig
	// Context is the lifetime of the work handed to Hearing (default
	// context.Background()).
	Context context.Context
}

// Engine holds the RTP sessions of the calls and implements core.Media.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*Session
	// ringback is one cycle of the tone a held caller hears by default.
	ringback []int16
}

var _ core.Media = (*Engine)(nil)

// NewEngine returns an engine; Run sends the keepalives.
func NewEngine(cfg Config) *Engine {
	if cfg.KeepaliveInterval == 0 {
		cfg.KeepaliveInterval = DefaultKeepaliveInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, log: log, sessions: map[string]*Session{}, ringback: Ringback()}
}

// Run keeps idle calls' media alive until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	if e.cfg.KeepaliveInterval < 0 {
		return
	}
	t := time.NewTicker(e.cfg.KeepaliveInterval)
	defer t.Stop()
	var idle []*Session
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cutoff := now.Add(-e.cfg.KeepaliveInterval + frameDur)
			idle = idle[:0]
			e.mu.Lock()
			for _, s := range e.sessions {
				idle = append(idle, s)
			}
			e.mu.Unlock()
			for _, s := range idle {
				if s.idleSince(cutoff) {
					s.sendFrame(nil, false)
				}
			}
			clear(idle)
		}
	}
}

// Open starts the media of an answered call on conn, which the caller
// owns (and closes after Close).
func (e *Engine) Open(callID string, conn *net.UDPConn, p Params) *Session {
	var hear *ear
	if e.cfg.Hearing != nil {
		hear = newEar(e.cfg.Hearing, e.cfg.VAD)
	}
	bg := e.cfg.Context
	if bg == nil {
		bg = context.Background()
	}
	s := newSession(callID, conn, p, e.log, hear, bg)
	e.mu.Lock()
	old := e.sessions[callID]
	e.sessions[callID] = s
	e.mu.Unlock()
	if old != nil {
		old.close()
	}
	return s
}

// Update applies a renegotiation (re-INVITE) to a call's media.
func (e *Engine) Update(callID string, p Params) {
	if s := e.Session(callID); s != nil {
		s.setParams(p)
	}
}

// Close ends a call's media: playback stops and Say returns.
func (e *Engine) Close(callID string) {
	e.mu.Lock()
	s := e.sessions[callID]
	delete(e.sessions, callID)
	e.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// Session is a call's media, nil when it has none.
func (e *Engine) Session(callID string) *Session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sessions[callID]
}

// Count is the number of sessions open.
func (e *Engine) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

func (e *Engine) live(callID string) (*Session, error) {
	s := e.Session(callID)
	if s == nil {
		return nil, core.FieldError(core.CodeCallNotActive, "call_id", "call %s has no media (not answered, or ended)", callID)
	}
	return s, nil
}

// Say renders u and plays it to the call; it returns once the last packet
// is sent, ctx ends or the call ends.
func (e *Engine) Say(ctx context.Context, callID string, u core.Utterance) error {
	s, err := e.live(callID)
	if err != nil {
		return err
	}
	if e.cfg.Speech == nil {
		return &core.Error{Code: core.CodeUnavailable, Message: "no speech engine is configured"}
	}
	// Messages are played in the order they were asked for: the turn is
	// taken before rendering, which takes longer for longer texts.
	s.playMu.Lock()
	defer s.playMu.Unlock()
	// Rendering stops when the call ends, too.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-rctx.Done():
		}
	}()
	pcm, err := e.cfg.Speech.Render(rctx, u)
	if err != nil {
		if s.closed.Load() {
			return endedError(callID)
		}
		return err
	}
	pctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	if u.BargeIn {
		s.mu.Lock()
		s.bargeIn = stop
		s.mu.Unlock()
	}
	err = s.playLocked(pctx, pcm)
	s.mu.Lock()
	s.bargeIn = nil
	s.mu.Unlock()
	if err != nil {
		if errors.Is(err, errSessionClosed) {
			return endedError(callID)
		}
		if errors.Is(context.Cause(pctx), errBargeIn) && ctx.Err() == nil {
			e.log.Info("barge-in: the caller talked over the server", "call_id", callID)
			return nil
		}
		return err
	}
	return nil
}

func endedError(callID string) error {
	return core.FieldError(core.CodeCallNotActive, "call_id", "call %s ended while the message was playing", callID)
}

// Bridge relays the audio of a and b to each other until ctx ends or
// either call ends.
func (e *Engine) Bridge(ctx context.Context, a, b string) (core.BridgeStats, error) {
	sa, err := e.live(a)
	if err != nil {
		return core.BridgeStats{}, err
	}
	sb, err := e.live(b)
	if err != nil {
		return core.BridgeStats{}, err
	}
	if sa == sb {
		return core.BridgeStats{}, fmt.Errorf("media: cannot bridge call %s to itself", a)
	}
	var ab, ba atomic.Int64
	link := func(from, to *Session, n *atomic.Int64) {
		from.mu.Lock()
		from.peer, from.relayed = to, n
		from.mu.Unlock()
	}
	link(sa, sb, &ab)
	link(sb, sa, &ba)
	e.log.Info("bridge started", "call_id", a, "peer_call_id", b)
	select {
	case <-ctx.Done():
	case <-sa.done:
	case <-sb.done:
	}
	for _, s := range []*Session{sa, sb} {
		s.mu.Lock()
		s.peer, s.relayed = nil, nil
		s.mu.Unlock()
	}
	// A packet being relayed as the bridge ends is counted before the
	// counts are read.
	sa.relaying.Wait()
	sb.relaying.Wait()
	return core.BridgeStats{AToB: int(ab.Load()), BToA: int(ba.Load())}, nil
}
