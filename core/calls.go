package core

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// CallsConfig are the rules for live calls and transfers.
type CallsConfig struct {
	// TransferTimeout bounds the wait for a final NOTIFY after a REFER.
	TransferTimeout time.Duration
	// AudioFiles resolves a transfer request's local hold_audio_url, as
	// Configuration.SetAudioFiles does an assistant's; nil refuses every
	// local path.
	AudioFiles AudioFiles
	// AllowAdhocTransfers lets a transfer go to a destination the
	// assistant does not list (the call-control path for backends). It
	// counts only without a Policy, which has its own setting.
	AllowAdhocTransfers bool
	// Policy decides every transfer and create_call destination. nil: the
	// baseline (emergency numbers and DefaultDeniedTypes refused, any
	// country and SIP host, ad-hoc per AllowAdhocTransfers). Give the
	// Configuration the same one (SetPolicy): its phone number writes keep the
	// policy's copy of the numbers' countries current.
	Policy *Policy
	// AllowedSources are networks inbound calls may come from besides
	// the hosts of the trunks.
	AllowedSources []netip.Prefix
	// DefaultWebhookURL receives every call's events
	// (VOICEDOCK_WEBHOOK_URL), besides the assistant's own webhook.
	DefaultWebhookURL string
	// CommandsPerMinute limits the control commands (transfers and
	// hang-ups) one live call accepts, whatever the entry point; see
	// allowCommand. 0 means no limit.
	CommandsPerMinute int
	// ConfirmTimeout bounds the wait for the human's answer about an
	// ad-hoc transfer destination (VOICEDOCK_ELICITATION_TIMEOUT);
	// DefaultConfirmTimeout when 0.
	ConfirmTimeout time.Duration
	// ConsentTimeout is how long a caller asked for recording consent has
	// to press a key (DefaultConsentTimeout when 0).
	ConsentTimeout time.Duration
	// MaxTransfersInFlight caps the transfers started and not yet final;
	// one beyond it is refused with CodeOverloaded before anything is
	// stored or sent. 0 means no limit.
	MaxTransfersInFlight int
	// KeptDir is a folder of this process alone where the state of a call
	// the store did not take is written too, so that a stop before the
	// store takes it loses nothing: the next start writes it
	// (store_behind_file.go). "": it is kept in memory only.
	KeptDir string
}

// Resolver looks up a trunk's host name; net.DefaultResolver does.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Calls owns the live calls: every change to one goes through here, under
// that call's lock, is stored, and only then published. It implements
// SignalHandler for the SIP user agent.
type Calls struct {
	cfg CallsConfig
	// store holds the configuration (assistants, trunks, numbers);
	// callStore the calls and their transfers.
	store     Store
	callStore CallStore
	sig       Signaling
	media     Media
	legMedia  LegMedia // media's LegMedia, nil when it has none
	bus       *Bus
	resolver  Resolver
	requester AssistantRequester
	hear      *hearing // the conversation: nil records none
	logger    *slog.Logger
	now       func() time.Time
	// storeTimeout bounds each state write (storeContext); a test
	// shortens it.
	storeTimeout time.Duration

	mu   sync.RWMutex
	live map[string]*liveCall
	// legs are the calls the server placed for a transfer (warm, bridge),
	// by their id, with the call they transfer.
	legs map[string]*liveCall
	// bg is the lifetime of work that must outlive the request that
	// started it (a transfer whose MCP request was cancelled); Shutdown
	// ends it (stop). work owns the goroutines and timers that do it.
	bg   context.Context
	stop context.CancelFunc
	work workers
	// slots counts the transfers in flight (capacity.go).
	slots *transferSlots
	// behind are the calls whose state the store has not taken
	// (store_behind.go).
	behind behindCalls
	// node is set when the manager is one node of several (JoinCluster).
	node *nodeState
	// bodies are buffers to encode webhook bodies in (deliveries).
	bodies sync.Pool
	// numbers are the phone numbers parsed (number_cache.go).
	numbers *numberCache
}

// liveCall is one call's state; mu serialises SIP events and commands.
type liveCall struct {
	mu       sync.Mutex
	call     Call
	active   *Transfer // the transfer in flight, nil when none
	timeout  *time.Timer
	webhooks []webhookTarget // as configured when the call started
	// announced is the status the last status-update carried.
	announced string
	// assistant is the call's assistant as it stood when the call began,
	// with any assistant-request override: its destinations govern the
	// call's transfers.
	assistant *Assistant
	// commands limits the call's control commands; made on first use, it
	// goes with the call when the call ends.
	commands *rate.Limiter
	// lost is set when another node took the call over while this node's
	// lease had lapsed (node_fence.go): nothing more of it is stored.
	lost bool
	// behind: a state write of the call failed for good, and kept are
	// the webhook rows of the writes not made since, in order, and
	// keptRows its conversation's rows not written (store_behind.go).
	behind   bool
	kept     []WebhookDelivery
	keptRows []keptRow

	// The active transfer's attempts: how each destination is
	// tried, the context its work runs in (cancelled when the transfer
	// ends or the call does), and the server's own call to the current
	// destination (warm, bridge) with what is done to the caller meanwhile.
	plans           []attemptPlan
	fallbackMessage string
	// lastAttempt ends the transfer with its current attempt: a message
	// was left on the destination's voicemail.
	lastAttempt bool
	xferCtx     context.Context
	xferCancel  context.CancelFunc
	leg         string // the current attempt's own call, "" when none
	legUp       bool   // that call is answered and not ended
	bridged     bool   // the caller and leg are bridged by us
	holdStop    func() // stops the caller's hold audio
	// endReason, when set, is recorded instead of assistant_ended when
	// the server hangs the call up (a transfer's on_failure end_call).
	endReason string
	// failureSaid: the failing attempt has told the caller why already
	// (attemptFailed), so the transfer's end says nothing more.
	failureSaid bool
	// ringTimedOut: the failing attempt rang past its ring timeout.
	ringTimedOut bool

	// Steps of the active transfer applied but not yet stored, and the
	// progress reports waiting for mu: see transfer_batch.go.
	unsaved   []unsavedStep
	reporting bool // applying a report that has another after it
	notifying atomic.Int32
}

// NewCalls returns the call manager. SetSignaling must be called before
// calls arrive (the SIP user agent needs the manager first).
func NewCalls(bg context.Context, cfg CallsConfig, store Store, calls CallStore, bus *Bus, logger *slog.Logger) *Calls {
	if cfg.TransferTimeout <= 0 {
		cfg.TransferTimeout = 30 * time.Second
	}
	bg, stop := context.WithCancel(bg)
	return &Calls{
		cfg: cfg, store: store, callStore: calls, bus: bus, logger: logger,
		resolver: net.DefaultResolver, now: time.Now, storeTimeout: storeTimeout,
		live: map[string]*liveCall{}, legs: map[string]*liveCall{}, bg: bg, stop: stop,
		slots: newTransferSlots(cfg.MaxTransfersInFlight), numbers: newNumberCache(),
	}
}

// SetSignaling attaches the SIP user agent.
func (m *Calls) SetSignaling(s Signaling) { m.sig = s }

// SetAssistantRequester attaches the assistant-request webhook sender.
func (m *Calls) SetAssistantRequester(r AssistantRequester) { m.requester = r }

// Bus returns the event stream.
func (m *Calls) Bus() *Bus { return m.bus }

func (m *Calls) timestamp() time.Time { return m.now().UTC().Truncate(time.Millisecond) }

func (m *Calls) get(id string) *liveCall {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.live[id]
}

// LiveCount is the number of calls held now.
func (m *Calls) LiveCount() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.live)
}

// storeTimeout bounds a state write, the wait for its turn in the store
// included: a write that has not begun by then is not made.
const storeTimeout = 10 * time.Second

// storeContext detaches a state write from the request or SIP
// transaction that caused it: a change that happened on the wire is
// recorded even when the request that asked for it has gone away.
func (m *Calls) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), m.storeTimeout)
}

// storeRetryFirst is the wait before a state write that failed is tried
// again; the wait doubles, within the write's deadline (storeContext).
const storeRetryFirst = 25 * time.Millisecond

// retryStore runs write until it succeeds, fails with a refusal of the
// store's (a coded *Error such as not_found, which another try would only
// repeat), or ctx is done. A call's state write carries the webhooks of
// the change (its end-of-call-report among them), and a write lost to a
// passing failure (a lock, a connection, a file the process could not
// open for a moment) lost them for good.
//
// While a call is behind the store (store_behind.go), the store is taken
// for down: a write that fails is not tried again for its whole deadline
// but kept at once, as the catch-ups will write it. Each call's first
// change in an outage held its lock (its SIP events and commands) for the
// deadline, and a shutdown ending its calls took the deadline per call.
func (m *Calls) retryStore(ctx context.Context, write func() error) error {
	wait := storeRetryFirst
	for {
		err := write()
		var coded *Error
		if err == nil || errors.As(err, &coded) || ctx.Err() != nil || m.BehindStore() > 0 {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

// saveCall stores the call and then publishes its status; lc.mu is held.
// A write that failed is tried again within its deadline (retryStore);
// one that still failed is logged and still published: the call's live
// state has changed on the wire, and leaving waiters blind to it would
// strand the caller.
func (m *Calls) saveCall(ctx context.Context, lc *liveCall) error {
	out := m.callChanged(lc)
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	if m.lostLocked(sctx, lc) {
		m.bus.Publish(Event{Type: EventCallStatus, At: lc.call.UpdatedAt, Call: snapshot(lc.call)})
		return nil
	}
	var err error
	if m.caughtUpLocked(sctx, lc, out) {
		err = m.retryStore(sctx, func() error { return m.callStore.UpdateCall(sctx, lc.call, out...) })
		if err != nil {
			m.logger.ErrorContext(ctx, "store call", "call_id", lc.call.ID, "err", err)
			m.keepLocked(ctx, lc, out, err)
		}
	} else {
		err = errBehind
	}
	m.bus.Publish(Event{Type: EventCallStatus, At: lc.call.UpdatedAt, Call: snapshot(lc.call)})
	return err
}

// callChanged stamps lc's call as changed now and returns the webhook
// deliveries announcing the change, to be stored with it; lc.mu is held.
func (m *Calls) callChanged(lc *liveCall) []WebhookDelivery {
	lc.call.UpdatedAt = m.timestamp()
	var out []WebhookDelivery
	if lc.call.Status != lc.announced {
		out = m.deliveries(lc, WebhookStatusUpdate, lc.call.UpdatedAt, nil)
		lc.announced = lc.call.Status
	}
	if !lc.call.Live() && lc.call.EndedAt != nil {
		out = append(out, m.deliveries(lc, WebhookEndOfCallReport, lc.call.UpdatedAt, map[string]any{
			"duration_seconds": lc.call.DurationSeconds, "end_reason": lc.call.EndReason,
			"started_at": lc.call.StartedAt, "ended_at": lc.call.EndedAt, "transfers": nonNil(lc.call.Transfers),
			"messages": orEmpty(m.messagesOf(lc.call.ID)),
		})...)
	}
	return out
}

// saveTransfer stores a transfer step and then publishes it; lc.mu is
// held. Steps of the same transfer left unstored (transfer_batch.go) go
// in the same write and are published first. As with saveCall, a failed
// write is logged and still published.
func (m *Calls) saveTransfer(ctx context.Context, lc *liveCall, t *Transfer) error {
	return m.writeTransfer(ctx, lc, t, true)
}

// writeTransfer stores t with the steps of it left unstored and, when
// step is set, t's own step's webhook rows; then it publishes the events
// of those steps, in order, and t's own last. lc.mu is held.
func (m *Calls) writeTransfer(ctx context.Context, lc *liveCall, t *Transfer, step bool) error {
	out, events := m.takeUnsaved(lc, t.ID)
	if step {
		out = append(out, m.transferDeliveries(lc, t)...)
	}
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	var err error
	switch {
	case m.lostLocked(sctx, lc):
	case !m.caughtUpLocked(sctx, lc, out):
		err = errBehind
	default:
		start := time.Now()
		err = m.retryStore(sctx, func() error { return m.callStore.SaveTransfer(sctx, *t, out...) })
		m.slots.writes.took(start)
		if err != nil {
			m.logger.ErrorContext(ctx, "store transfer", "call_id", t.CallID, "transfer_id", t.ID, "err", err)
			m.keepLocked(ctx, lc, out, err)
		}
	}
	for i := range lc.call.Transfers {
		if lc.call.Transfers[i].ID == t.ID {
			lc.call.Transfers[i] = cloneTransfer(*t)
		}
	}
	for _, e := range events {
		m.bus.Publish(e)
	}
	if step {
		m.bus.Publish(m.stepEvent(lc, t))
	}
	return err
}

// stepEvent announces t's current step, with lc's call as it is now.
func (m *Calls) stepEvent(lc *liveCall, t *Transfer) Event {
	tr := cloneTransfer(*t)
	return Event{Type: EventTransferStep, At: t.UpdatedAt, Call: snapshot(lc.call), Transfer: &tr}
}

func snapshot(c Call) Call {
	c.Transfers = nil
	return c
}

func cloneTransfer(t Transfer) Transfer {
	t.Steps = append([]TransferStep(nil), t.Steps...)
	if t.Attempts != nil {
		t.Attempts = append([]TransferAttempt(nil), t.Attempts...)
	}
	return t
}

// CallAnswered marks the call in progress.
func (m *Calls) CallAnswered(ctx context.Context, callID string) {
	lc := m.get(callID)
	if lc == nil {
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.call.Status != CallRinging && lc.call.Status != CallDialing {
		return
	}
	now := m.timestamp()
	lc.call.Status = CallInProgress
	lc.call.StartedAt = &now
	m.saveCall(ctx, lc)
	m.logger.InfoContext(ctx, "call answered", "call_id", callID)
	m.greetLocked(lc)
}

// CallEnded records the end of a call; a transfer in flight is canceled.
func (m *Calls) CallEnded(ctx context.Context, callID, reason string) {
	lc := m.get(callID)
	if lc == nil {
		if owner := m.legOwner(callID); owner != nil {
			m.legEnded(ctx, owner, callID, reason)
		}
		return
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	m.endLocked(ctx, lc, reason)
}

// endLocked ends the call; lc.mu is held. A transfer in flight is
// canceled first, so the end-of-call report lists it as it ended.
func (m *Calls) endLocked(ctx context.Context, lc *liveCall, reason string) {
	if lc.timeout != nil {
		lc.timeout.Stop()
		lc.timeout = nil
	}
	now := m.timestamp()
	switch {
	case lc.call.Status == CallTransferred:
		reason = EndTransferred
	case lc.call.Status == CallRinging && reason == EndCallerHangup:
		reason = EndCanceled
		lc.call.Status = CallEnded
	case reason == EndShutdown, reason == EndServerRestart, reason == EndNodeLost:
		// Whatever the call was doing, the server stopped it: recorded as
		// a restart records a stopped process's calls (Call.EndStopped),
		// not as failed, which says the far side or the network did not
		// complete it.
		lc.call.Status = CallEnded
	case reason == EndFailed, lc.call.Status == CallDialing:
		lc.call.Status = CallFailed
	default:
		lc.call.Status = CallEnded
		if lc.endReason != "" && reason == EndAssistantHangup {
			reason = lc.endReason
		}
	}
	lc.call.EndReason = reason
	lc.call.EndedAt = &now
	if lc.call.StartedAt != nil {
		lc.call.DurationSeconds = int(now.Sub(*lc.call.StartedAt).Round(time.Second) / time.Second)
	}
	if t := lc.active; t != nil && !t.Final() {
		why := "the caller hung up during the transfer"
		switch reason {
		case EndShutdown, EndServerRestart:
			why = TransferStoppedReason
		case EndNodeLost:
			why = TransferNodeLostReason
		}
		m.stepLocked(ctx, lc, TransferCanceled, 0, why)
	}
	lc.active = nil
	m.releaseTransferLocked(lc)
	m.saveCall(ctx, lc)
	// Only now does the call leave the live map: until then GetCall waits
	// on lc.mu and so never reads a half-ended call.
	m.mu.Lock()
	delete(m.live, lc.call.ID)
	m.mu.Unlock()
	m.forgetLines(lc.call.ID)
	m.logger.InfoContext(ctx, "call ended", "call_id", lc.call.ID, "status", lc.call.Status, "reason", reason)
}
