package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/sip"
	"github.com/voicedock/voicedock/speech"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/tools"
	"github.com/voicedock/voicedock/transport"
)

// embedded is the server's core, SIP user agent, store and MCP handler
// wired in this process, as cmd/voicedock wires them, so that the core's
// transfer entry point can be driven without MCP and the time from a
// transfer_call's arrival to its REFER can be taken in process. It also
// serves a plain net/http JSON handler doing the same store reads as
// get_call and list_calls: the reference for the MCP layer's cost.
type embedded struct {
	store    *sqlite.Store
	calls    *core.Calls
	ua       *sip.UA
	mcpURL   string
	plainURL string
	httpSrv  *http.Server
	mcpH     *transport.HTTPHandler
	cancel   context.CancelFunc
	sipDone  chan error
	// answered gets the ids of answered calls while autoAnswer is set.
	answered chan string
	sub      *core.Subscription

	// arrivals maps a call id to the arrival time of its transfer_call
	// request; referAt gets the arrival-to-REFER time of each.
	arrivals sync.Map
	mu       sync.Mutex
	toRefer  []time.Duration
}

var reCallID = regexp.MustCompile(`"call_id"\s*:\s*"([^"]+)"`)

// timedSignaling notes when the core hands a REFER to the SIP user agent.
type timedSignaling struct {
	core.Signaling
	e *embedded
}

func (s timedSignaling) Refer(ctx context.Context, callID, referTo string) (int, error) {
	s.noteRefer(callID)
	return s.Signaling.Refer(ctx, callID, referTo)
}

// ReferTo is what the core's transfer attempts call (Refer is its
// shorthand), so it is timed too.
func (s timedSignaling) ReferTo(ctx context.Context, callID string, target core.ReferTarget) (int, error) {
	s.noteRefer(callID)
	return s.Signaling.ReferTo(ctx, callID, target)
}

func (s timedSignaling) noteRefer(callID string) {
	if v, ok := s.e.arrivals.LoadAndDelete(callID); ok {
		d := time.Since(v.(time.Time))
		s.e.mu.Lock()
		s.e.toRefer = append(s.e.toRefer, d)
		s.e.mu.Unlock()
	}
}

func startEmbedded(ctx context.Context, dataDir string) (*embedded, error) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	key, err := sqlite.LoadOrCreateKey(dataDir, "")
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "voicedock.db"), key, logger)
	if err != nil {
		return nil, err
	}
	e := &embedded{store: st, answered: make(chan string, 1<<16), sipDone: make(chan error, 1)}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	policy, err := core.NewPolicy(core.PolicyConfig{AllowedCountries: []string{"*"}, DeniedTypes: []string{"premium_rate"}})
	if err != nil {
		return nil, err
	}
	config := core.NewConfigCache(st)
	svc := core.NewConfiguration(config, logger)
	svc.SetPolicy(policy)
	e.calls = core.NewCalls(bg, core.CallsConfig{TransferTimeout: 30 * time.Second, Policy: policy}, config, st, core.NewBus(), logger)
	// The calls' media as the server wires it (cmd/voicedock/speech.go):
	// an RTP session per call with the default 1 s keepalive.
	espeak := &speech.ESpeak{}
	mediaEngine := media.NewEngine(media.Config{Speech: speech.NewSpeaker(espeak, 64<<20, nil, espeak), Logger: logger})
	e.calls.SetMedia(mediaEngine)
	go mediaEngine.Run(bg)
	e.ua, err = sip.New(sip.Config{Addr: "127.0.0.1:0", Transports: []string{"udp"}, RTPPortMin: 33000, RTPPortMax: 60998,
		UserAgent: "voicedock/bench", RateLimit: -1, MaxCalls: -1, Media: mediaEngine}, e.calls, logger)
	if err != nil {
		return nil, err
	}
	e.calls.SetSignaling(timedSignaling{Signaling: e.ua, e: e})
	e.sub = e.calls.Bus().Subscribe(func(ev core.Event) bool {
		return ev.Type == core.EventCallStatus && ev.Call.Status == core.CallInProgress
	})
	go func() {
		for ev := range e.sub.C {
			select {
			case e.answered <- ev.Call.ID:
			default:
			}
		}
	}()
	ready := make(chan struct{})
	go func() { e.sipDone <- e.ua.Serve(bg, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-e.sipDone:
		return nil, err
	}

	toolList := tools.All(tools.Deps{Config: svc, Calls: e.calls, Deliveries: core.NewDeliveries(st, func() {})})
	srv, err := server.New(toolList, server.Options{Name: "voicedock", Version: "bench", Logger: logger, Calls: e.calls, Config: svc})
	if err != nil {
		return nil, err
	}
	go srv.Run(bg)
	e.mcpH, err = transport.NewHTTPHandler(srv.MCP, transport.HTTPConfig{RateLimitPerMinute: -1, WriteTools: server.WriteTools(toolList),
		DirectTools: server.DirectTools(toolList)}, logger)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", e.arrival(e.mcpH))
	mux.Handle("/healthz", e.mcpH)
	mux.HandleFunc("GET /plain/get_call", e.plainGetCall)
	mux.HandleFunc("GET /plain/list_calls", e.plainListCalls)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.mcpURL = "http://" + ln.Addr().String() + "/mcp"
	e.plainURL = "http://" + ln.Addr().String() + "/plain"
	e.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go e.httpSrv.Serve(ln)
	return e, nil
}

// arrival notes when a transfer_call request arrives, before anything of
// it is read by the MCP layer.
func (e *embedded) arrival(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		at := time.Now()
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if bytes.Contains(body, []byte(`"transfer_call"`)) {
			if m := reCallID.FindSubmatch(body); m != nil {
				e.arrivals.Store(string(m[1]), at)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (e *embedded) plainGetCall(w http.ResponseWriter, r *http.Request) {
	c, err := e.calls.GetCall(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"call": c})
}

func (e *embedded) plainListCalls(w http.ResponseWriter, r *http.Request) {
	list, total, err := e.calls.ListCalls(r.Context(), core.CallFilter{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"calls": list, "pagination": map[string]int{"total": total}})
}

func (e *embedded) sipAddr() string { return e.ua.LocalAddr().String() }

// transfer is the core's transfer entry point, as the transfer_call tool
// calls it, without MCP.
func (e *embedded) transfer(ctx context.Context, callID string) error {
	t, err := e.calls.Transfer(ctx, core.TransferRequest{CallID: callID, Destination: salesNumber, RequestedBy: "bench"}, nil)
	if err != nil {
		return err
	}
	if t.Status != core.TransferCompleted {
		return &core.Error{Code: core.CodeTransferFailed, Message: "transfer " + t.Status + ": " + strconv.Itoa(t.SIPStatus)}
	}
	return nil
}

func (e *embedded) drain() {
	for {
		select {
		case <-e.answered:
		default:
			return
		}
	}
}

func (e *embedded) referTimes() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.toRefer
	e.toRefer = nil
	return out
}

func (e *embedded) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.sub.Close()
	e.mcpH.Close(ctx)
	e.httpSrv.Shutdown(ctx)
	e.ua.Shutdown(ctx)
	e.cancel()
	<-e.sipDone
	e.calls.Shutdown(ctx)
	e.store.Close()
}
