package sip

import (
	"context"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// callState is where a call is in its life.
type callState int

const (
	stateRinging   callState = iota // inbound: offered and ringing, no final response yet
	stateDialing                    // outbound: INVITE sent, no final response yet
	stateAnswering                  // inbound: 200 OK sent, ACK awaited
	stateAnswered                   // confirmed dialog
	stateEnding                     // an ending path owns it (BYE, reject, CANCEL in flight)
	stateEnded                      // reported ended; gone from the registry
)

// call is one call the user agent holds. Its fields after mu change under
// mu only; the goroutine that moves a call to stateEnding finishes it.
type call struct {
	id        string // the core's call id
	key       string // dialog key (Call-ID and our tag); guarded by the registry
	inbound   bool
	transport string // tpUDP, tpTCP, tpTLS

	// setupDone is closed when the goroutine that sets the call up (the
	// INVITE handler, or Dial) is done with it; wake nudges that goroutine
	// out of its wait.
	setupDone chan struct{}
	wake      chan struct{}

	// sendMu orders the in-dialog requests we originate (CSeq).
	sendMu sync.Mutex

	// notifyMu orders the reports of the far side's NOTIFYs: sipgo hands
	// each request to its own goroutine, so two NOTIFYs sent back to back
	// can reach us in either order. The CSeq is the sender's order (RFC
	// 3261 12.2.2): one lower than a NOTIFY already queued is stale and
	// not reported (a "100 Trying" overtaken by the final "486").
	// NOTIFYs queue in notified as they arrive, before they are answered,
	// are reported once answered, and those answered while one is being
	// reported are reported together next (queueNotify, reportNotifies).
	notifyMu       sync.Mutex
	lastNotifyCSeq uint32
	notified       []notifyStep
	notifySeq      uint64
	reporting      bool

	mu    sync.Mutex
	state callState
	srv   *sipgo.DialogServerSession // inbound
	cli   *sipgo.DialogClientSession // outbound
	media *mediaState
	acked bool
	// okSent is set (inbound) as our 2xx to the INVITE goes out: from then
	// on a request of the caller's with a higher CSeq proves it arrived.
	okSent     bool
	reinvite   *pendingReinvite
	dialCancel context.CancelCauseFunc
	// endReason and endStatus are what the ending path that claimed a
	// ringing or dialling call wants: the CallEnded reason, and the final
	// response to a ringing INVITE.
	endReason string
	endStatus int
	endPhrase string
	// answering is set while CallAnswered is being reported; a CallEnded
	// that races it is held in heldEnd and reported right after.
	answering bool
	heldEnd   string
}

// mediaState is the call's RTP port and SDP session version.
type mediaState struct {
	rtp     *rtpPort
	sessID  uint64
	version uint64
}

// pendingReinvite retransmits the 2xx to a re-INVITE until its ACK (RFC
// 3261 13.3.1.4) on unreliable transports.
type pendingReinvite struct {
	cseq     uint32
	tx       sip.ServerTransaction
	res      *sip.Response
	timer    *time.Timer
	interval time.Duration
	until    time.Time
}

func newCall(id string, inbound bool, tp string, state callState) *call {
	return &call{
		id:        id,
		inbound:   inbound,
		transport: tp,
		state:     state,
		setupDone: make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
}

// nudge wakes the setup goroutine without blocking.
func (c *call) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// dialogKey identifies a dialog by Call-ID and our own tag, which we
// generate, so the pair is unique.
func dialogKey(callID, localTag string) string { return callID + "\x00" + localTag }

// requestKey is the dialog key of a request the far side sent in a dialog
// (our tag is in To), and false for a request outside any dialog.
func requestKey(req *sip.Request) (string, bool) {
	cid, to := req.CallID(), req.To()
	if cid == nil || to == nil {
		return "", false
	}
	tag, ok := to.Params.Get("tag")
	if !ok || tag == "" {
		return "", false
	}
	return dialogKey(cid.Value(), tag), true
}

// register adds a new call; a Hangup that came before it makes it start
// out ending. False when the id is already live.
func (u *UA) register(c *call) bool {
	if !u.calls.add(c) {
		return false
	}
	if u.calls.takePending(c.id) {
		c.mu.Lock()
		c.state = stateEnding
		c.endReason = core.EndAssistantHangup
		if c.inbound {
			c.endReason = core.EndRejected
			c.endStatus, c.endPhrase = sip.StatusTemporarilyUnavailable, "Temporarily Unavailable"
		}
		c.mu.Unlock()
	}
	return true
}

// finish ends a call for good: it leaves the registry, its RTP port is
// released and CallEnded is reported. Only the first call does anything,
// so every call is reported ended exactly once.
func (u *UA) finish(c *call, reason string) bool {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return false
	}
	c.state = stateEnded
	media := c.media
	c.media = nil
	if p := c.reinvite; p != nil {
		p.timer.Stop()
		c.reinvite = nil
	}
	held := c.answering
	if held {
		c.heldEnd = reason
	}
	c.mu.Unlock()

	u.calls.remove(c)
	if media != nil {
		if u.cfg.Media != nil {
			u.cfg.Media.Close(c.id)
		}
		u.ports.release(media.rtp)
	}
	u.log.Info("call ended", "call_id", c.id, "reason", reason)
	if !held {
		u.handler.CallEnded(reportCtx(), c.id, reason)
	}
	return true
}

// reportAnswered reports CallAnswered; c.answering was set under c.mu when
// the call became answered. A CallEnded that raced it is reported after.
func (u *UA) reportAnswered(c *call) {
	u.log.Info("call answered", "call_id", c.id)
	u.handler.CallAnswered(reportCtx(), c.id)
	c.mu.Lock()
	c.answering = false
	held := c.heldEnd
	c.heldEnd = ""
	c.mu.Unlock()
	if held != "" {
		u.handler.CallEnded(reportCtx(), c.id, held)
	}
}

// end ends a live call from our side: the final response status/phrase
// while it rings (reported as ringingReason), CANCEL while it is dialled,
// BYE once answered (reported as reason). It returns when the call is gone
// or ctx is done.
func (u *UA) end(ctx context.Context, c *call, reason, ringingReason string, status int, phrase string) {
	c.mu.Lock()
	switch c.state {
	case stateRinging:
		c.state = stateEnding
		c.endReason, c.endStatus, c.endPhrase = ringingReason, status, phrase
		c.mu.Unlock()
		c.nudge()
		waitDone(ctx, c.setupDone)
	case stateDialing:
		c.state = stateEnding
		c.endReason = reason
		cancel := c.dialCancel
		c.mu.Unlock()
		if cancel != nil {
			cancel(errEndedByUs{reason: reason})
		}
		waitDone(ctx, c.setupDone)
	case stateAnswering, stateAnswered:
		c.state = stateEnding
		c.endReason = reason
		c.mu.Unlock()
		if err := u.sendBye(ctx, c); err != nil {
			u.log.Warn("BYE failed; the call is ended on our side", "call_id", c.id, "err", err)
		}
		u.finish(c, reason)
	default: // already ending or ended
		c.mu.Unlock()
	}
}

// errEndedByUs is the cause given to a dial cancelled by Hangup or
// Shutdown.
type errEndedByUs struct{ reason string }

func (e errEndedByUs) Error() string { return "call ended by us: " + e.reason }

func waitDone(ctx context.Context, done <-chan struct{}) {
	select {
	case <-done:
	case <-ctx.Done():
	}
}
