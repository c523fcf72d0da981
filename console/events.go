package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/voicedock/voicedock/core"
)

// Defaults for EventsConfig's zero values.
const (
	DefaultMaxStreams    = 32
	DefaultRecentCalls   = 50
	DefaultHeartbeat     = 25 * time.Second
	DefaultWriteTimeout  = 10 * time.Second
	snapshotTimeout      = 10 * time.Second
	reconnectDelayMillis = 2000
)

// CallLister lists stored calls with their transfers; *core.Calls is one.
type CallLister interface {
	ListCalls(ctx context.Context, f core.CallFilter) ([]core.Call, int, error)
}

// EventsConfig configures the event stream.
type EventsConfig struct {
	// MaxStreams bounds the streams open at once; more get 503.
	MaxStreams int
	// RecentCalls is how many of the newest calls (with their transfers)
	// the snapshot holds besides the live ones.
	RecentCalls int
	// Heartbeat is how often a comment goes down an idle stream, so that
	// proxies keep it and a vanished browser is noticed.
	Heartbeat time.Duration
	// WriteTimeout ends a stream whose browser does not take an event in
	// that time: the browser reconnects and starts from a new snapshot,
	// instead of the server queueing events for it without bound.
	WriteTimeout time.Duration
}

// Events serves the console's event stream (text/event-stream):
//
//   - "snapshot" first: {"calls": [...]}, the live calls and the newest
//     RecentCalls calls, each with its transfers;
//   - "call": {"call": ...} when a call's status changes (the call without
//     its transfers);
//   - "transfer": {"call": ..., "transfer": ...} at each transfer step, the
//     transfer with every step so far.
//
// Each carries the object as it is after the change, stamped with
// updated_at, so the browser keeps the newest it has seen of each. The
// subscription to the bus starts before the snapshot is read: nothing that
// happens in between is lost; what the snapshot already shows comes again
// and changes nothing.
type Events struct {
	done   <-chan struct{}
	bus    *core.Bus
	calls  CallLister
	logger *slog.Logger
	cfg    EventsConfig
	open   atomic.Int64
	nextID atomic.Uint64
}

// NewEvents returns the stream handler. Its streams end when done is
// closed (the server is stopping), or when the browser goes away.
func NewEvents(done <-chan struct{}, bus *core.Bus, calls CallLister, cfg EventsConfig, logger *slog.Logger) *Events {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.RecentCalls <= 0 {
		cfg.RecentCalls = DefaultRecentCalls
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	return &Events{done: done, bus: bus, calls: calls, logger: logger, cfg: cfg}
}

// Open returns the number of streams open now.
func (e *Events) Open() int { return int(e.open.Load()) }

func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := e.open.Add(1); n > int64(e.cfg.MaxStreams) {
		e.open.Add(-1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many console streams", http.StatusServiceUnavailable)
		return
	}
	defer func() {
		e.open.Add(-1)
		e.logger.Debug("console stream closed", "remote", r.RemoteAddr)
	}()

	sub := e.bus.Subscribe(nil)
	defer sub.Close()

	snapshot, err := e.snapshot(r.Context())
	if err != nil {
		e.logger.Warn("console snapshot", "err", err)
		http.Error(w, "could not read the calls", http.StatusInternalServerError)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Proxies such as nginx would otherwise buffer the stream.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	s := &stream{w: w, rc: http.NewResponseController(w), timeout: e.cfg.WriteTimeout, ids: &e.nextID}
	if err := s.retry(reconnectDelayMillis); err != nil {
		return
	}
	if err := s.send("snapshot", snapshot); err != nil {
		return
	}
	e.logger.Debug("console stream opened", "remote", r.RemoteAddr)

	beat := time.NewTicker(e.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-e.done:
			return
		case <-beat.C:
			if err := s.comment("ping"); err != nil {
				return
			}
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if err := s.event(ev); err != nil {
				return
			}
		}
	}
}

func (e *Events) snapshot(ctx context.Context) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	seen := map[string]bool{}
	calls := []core.Call{}
	add := func(list []core.Call) {
		for _, c := range list {
			if !seen[c.ID] {
				seen[c.ID] = true
				calls = append(calls, c)
			}
		}
	}
	for _, status := range []string{core.CallInProgress, core.CallRinging, core.CallDialing} {
		list, _, err := e.calls.ListCalls(ctx, core.CallFilter{Status: status, Page: core.Page{Limit: core.MaxPageLimit}})
		if err != nil {
			return nil, fmt.Errorf("list %s calls: %w", status, err)
		}
		add(list)
	}
	recent, _, err := e.calls.ListCalls(ctx, core.CallFilter{Page: core.Page{Limit: min(e.cfg.RecentCalls, core.MaxPageLimit)}})
	if err != nil {
		return nil, fmt.Errorf("list recent calls: %w", err)
	}
	add(recent)
	return map[string]any{"calls": calls}, nil
}

// stream writes server-sent events, each within a deadline.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	ids     *atomic.Uint64
}

func (s *stream) event(ev core.Event) error {
	switch ev.Type {
	case core.EventCallStatus:
		return s.send("call", map[string]any{"call": ev.Call})
	case core.EventTransferStep:
		if ev.Transfer == nil {
			return nil
		}
		return s.send("transfer", map[string]any{"call": ev.Call, "transfer": ev.Transfer})
	case core.EventTranscript:
		if ev.Line == nil {
			return nil
		}
		return s.send("line", map[string]any{"line": ev.Line})
	case core.EventDigit:
		if ev.Digit == nil {
			return nil
		}
		return s.send("digit", map[string]any{"digit": ev.Digit})
	}
	return nil
}

func (s *stream) send(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", name, err)
	}
	// JSON from encoding/json holds no raw newline, so one data line
	// carries it.
	id := strconv.FormatUint(s.ids.Add(1), 10)
	return s.write("id: " + id + "\nevent: " + name + "\ndata: " + string(data) + "\n\n")
}

func (s *stream) retry(millis int) error {
	return s.write("retry: " + strconv.Itoa(millis) + "\n\n")
}

func (s *stream) comment(text string) error {
	return s.write(": " + text + "\n\n")
}

func (s *stream) write(text string) error {
	// A writer without deadlines (httptest's recorder) writes without.
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := s.w.Write([]byte(text)); err != nil {
		return err
	}
	return s.rc.Flush()
}
