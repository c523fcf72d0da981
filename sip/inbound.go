package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// onInvite handles a new inbound call, or a re-INVITE in a dialog. It runs
// on sipgo's goroutine for the INVITE transaction, which sipgo keeps until
// the final response is sent and (for a 2xx) ACKed; no goroutine of ours
// waits on an established call.
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if key, inDialog := requestKey(req); inDialog {
		u.onReInvite(req, tx, key)
		return
	}
	u.gate.RLock()
	if u.closing.Load() {
		u.gate.RUnlock()
		u.reply(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	u.offers.Add(1)
	u.gate.RUnlock()
	var offerDone sync.Once
	offered := func() { offerDone.Do(u.offers.Done) }
	defer offered()
	st := u.net.Load()
	tp := strings.ToUpper(req.Transport())
	dua := st.dialogs[tp]
	if dua == nil {
		u.reply(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	if !u.coreAdmits() {
		u.refuseBusy(req, tx, "behind on transfers")
		return
	}
	if !u.admit() {
		u.busy.Add(1)
		u.log.Info("inbound call refused: at the maximum of calls", "max_calls", u.cfg.MaxCalls, "source", req.Source())
		u.reply(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(u.busyRetryAfter())))
		return
	}
	var admitDone sync.Once
	admitted := func() { admitDone.Do(u.admitted) }
	defer admitted()
	u.reply(req, tx, sip.StatusTrying, "Trying")

	inv, err := inboundInvite(req)
	if err != nil {
		u.log.Info("malformed INVITE", "err", err)
		u.reply(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	stale := u.nonces.authorize(req, &inv, time.Now())
	// The core decides with a context that a CANCEL cancels.
	ctx, cancel := context.WithCancel(reportCtx())
	defer cancel()
	if !tx.OnCancel(func(*sip.Request) { cancel() }) {
		// sipgo refuses the callback when the CANCEL came first (or the
		// transaction has ended): the core must not decide on at length.
		cancel()
	}
	decision := u.handler.OfferCall(ctx, inv)
	if decision.CallID == "" {
		if decision.Challenge {
			u.log.Info("inbound call challenged", "called", inv.Called, "source", inv.Source.String(), "stale", stale)
			u.reply(req, tx, sip.StatusUnauthorized, "Unauthorized", u.nonces.challenge(time.Now(), stale, inv.Source))
			return
		}
		u.rejectOffer(req, tx, inv, decision)
		return
	}
	// From here on the core holds a call record: every path ends in finish,
	// which reports CallEnded once.
	c := newCall(decision.CallID, true, tp, stateRinging)
	defer close(c.setupDone)
	log := u.log.With("call_id", c.id, "sip_call_id", inv.SIPCallID)
	if !u.register(c) {
		log.Error("the core offered a call id that is already live")
		u.reply(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	offered()  // Shutdown sees the call from here on
	admitted() // and MaxCalls counts it
	u.filter.trust(inv.Source.Addr())
	if ctx.Err() != nil || errors.Is(tx.Err(), sip.ErrTransactionCanceled) {
		log.Info("call canceled while being offered")
		u.finish(c, core.EndCanceled)
		return
	}
	if u.closing.Load() {
		u.reply(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
		u.finish(c, core.EndShutdown)
		return
	}
	fail := func(status int, phrase, why string, err error) {
		log.Warn("inbound call failed", "status", status, "why", why, "err", err)
		u.reply(req, tx, status, phrase)
		u.finish(c, core.EndFailed)
	}

	rtp, err := u.ports.acquire()
	if err != nil {
		fail(sip.StatusServiceUnavailable, "Service Unavailable", "no free RTP port", err)
		return
	}
	media := newMediaState(rtp)
	c.mu.Lock()
	c.media = media // released by finish from now on
	c.mu.Unlock()
	sdp, negotiated, err := u.localSDP(req.Body(), media, false)
	if err != nil {
		var na *notAcceptableError
		if errors.As(err, &na) {
			fail(sip.StatusNotAcceptableHere, "Not Acceptable Here", "SDP offer", err)
			return
		}
		fail(sip.StatusInternalServerError, "Server Internal Error", "SDP answer", err)
		return
	}
	dlg, err := dua.ReadInvite(req, tx)
	if err != nil {
		if errors.Is(tx.Err(), sip.ErrTransactionCanceled) {
			u.finish(c, core.EndCanceled)
			return
		}
		fail(sip.StatusInternalServerError, "Server Internal Error", "dialog", err)
		return
	}
	localTag, _ := dlg.InviteRequest.To().Params.Get("tag")
	c.mu.Lock()
	c.srv = dlg
	c.mu.Unlock()
	u.calls.setKey(c, dialogKey(inv.SIPCallID, localTag))

	if u.endedWhileRinging(c, dlg, tx, stateRinging, log) {
		return
	}
	if err := dlg.Respond(sip.StatusRinging, "Ringing", nil, u.serverHeader()); err != nil {
		log.Debug("send 180", "err", err)
	} else if u.cfg.OnMessage != nil {
		u.cfg.OnMessage(false, string(sip.INVITE), true)
	}
	if d := u.cfg.AnswerDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-dlg.Context().Done():
		case <-c.wake:
		}
		t.Stop()
	}
	if u.endedWhileRinging(c, dlg, tx, stateAnswering, log) {
		return
	}
	u.startMedia(c, negotiated)
	u.answer(c, dlg.InviteRequest, sdp, log)
}

// admit reserves room for one more inbound call under MaxCalls: the calls
// held and the INVITEs being decided stay below it. admitted gives the
// room back once the INVITE is refused or its call registered.
func (u *UA) admit() bool {
	u.admitMu.Lock()
	defer u.admitMu.Unlock()
	if u.cfg.MaxCalls > 0 && u.calls.count()+u.deciding >= u.cfg.MaxCalls {
		return false
	}
	u.deciding++
	return true
}

func (u *UA) admitted() {
	u.admitMu.Lock()
	u.deciding--
	u.admitMu.Unlock()
}

// busyRetryAfter is the Retry-After, in seconds, of a 503 at MaxCalls.
func (u *UA) busyRetryAfter() int {
	d := u.cfg.RetryAfter
	if d <= 0 {
		d = DefaultBusyRetryAfter
	}
	return int((d + time.Second - 1) / time.Second)
}

// endedWhileRinging ends a ringing call that Hangup, Shutdown, a BYE in the
// early dialog or a CANCEL has claimed, and otherwise moves it to next
// under the same lock. It reports whether the call was ended.
func (u *UA) endedWhileRinging(c *call, dlg *sipgo.DialogServerSession, tx sip.ServerTransaction, next callState, log *slog.Logger) bool {
	c.mu.Lock()
	switch {
	case c.state == stateEnding:
		reason, status, phrase := c.endReason, c.endStatus, c.endPhrase
		c.mu.Unlock()
		u.reply(dlg.InviteRequest, tx, status, phrase)
		u.finish(c, reason)
		return true
	case c.state != stateRinging:
		c.mu.Unlock()
		return true
	case dlg.Context().Err() != nil || tx.Err() != nil: // CANCEL: the transaction sent 487
		c.state = stateEnding
		c.mu.Unlock()
		log.Info("call canceled before the answer")
		u.finish(c, core.EndCanceled)
		return true
	}
	c.state = next
	c.mu.Unlock()
	return false
}

// answer sends the 200 OK and waits (in sipgo) for its ACK, which onAck
// reports.
func (u *UA) answer(c *call, invite *sip.Request, sdp []byte, log *slog.Logger) {
	c.mu.Lock()
	dlg := c.srv
	c.okSent = true
	c.mu.Unlock()
	res := sip.NewSDPResponseFromRequest(invite, sdp)
	u.decorateDialogResponse(res, c.transport)
	err := dlg.WriteResponse(res)

	c.mu.Lock()
	acked, state := c.acked, c.state
	if !acked && state == stateAnswering {
		c.state = stateEnding
	}
	c.mu.Unlock()
	if acked || state != stateAnswering {
		return // answered, or another path ends the call
	}
	if errors.Is(dlg.Context().Err(), context.Canceled) && errors.Is(context.Cause(dlg.Context()), sip.ErrTransactionCanceled) {
		log.Info("call canceled as it was answered")
		u.finish(c, core.EndCanceled)
		return
	}
	log.Warn("no ACK for our 200 OK; ending the call", "err", err)
	ctx, cancel := context.WithTimeout(reportCtx(), 2*time.Second)
	defer cancel()
	if err := u.sendBye(ctx, c); err != nil {
		log.Info("BYE after a missing ACK", "err", err)
	}
	u.finish(c, core.EndFailed)
}

// rejectOffer answers an INVITE the core refused; nothing is kept.
func (u *UA) rejectOffer(req *sip.Request, tx sip.ServerTransaction, inv core.InboundInvite, d core.OfferDecision) {
	status, phrase := d.RejectStatus, d.RejectReason
	if status < 300 || status > 699 {
		status = sip.StatusTemporarilyUnavailable
		phrase = ""
	}
	if phrase == "" {
		phrase = reasonPhraseFor(status)
	}
	u.log.Info("inbound call refused", "status", status, "called", inv.Called, "caller", inv.Caller, "source", inv.Source.String())
	u.reply(req, tx, status, phrase)
}

// onAck confirms an answered call, or stops retransmitting the 2xx to a
// re-INVITE.
func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	key, ok := requestKey(req)
	if !ok {
		return
	}
	c := u.calls.byDialog(key)
	if c == nil || req.CSeq() == nil {
		return
	}
	cseq := req.CSeq().SeqNo
	c.mu.Lock()
	if srv := c.srv; srv != nil && !c.acked && cseq == srv.InviteRequest.CSeq().SeqNo &&
		(c.state == stateAnswering || c.state == stateEnding) {
		c.acked = true
		answered := c.state == stateAnswering
		if answered {
			c.state = stateAnswered
			c.answering = true
		}
		c.mu.Unlock()
		if err := srv.ReadAck(req, tx); err != nil {
			u.log.Debug("ACK", "call_id", c.id, "err", err)
		}
		if answered {
			u.reportAnswered(c)
		}
		return
	}
	if p := c.reinvite; p != nil && p.cseq == cseq {
		p.timer.Stop()
		c.reinvite = nil
	}
	c.mu.Unlock()
}

// onCancel sees only a CANCEL that matched no INVITE transaction: sipgo
// answers the others itself (200, then 487 to the INVITE).
func (u *UA) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// localSDP is our answer to offer (or our offer when there is none). With
// bump the o= version is incremented, as a new description in the same
// session requires; c.mu is held by the caller when media is shared.
func (u *UA) localSDP(offer []byte, m *mediaState, bump bool) ([]byte, *choice, error) {
	lm := localMedia{addr: u.sdpHost(), port: m.rtp.port, sessID: m.sessID, version: m.version}
	if bump {
		lm.version++
	}
	var sdp []byte
	var ch *choice
	if len(strings.TrimSpace(string(offer))) == 0 {
		sdp = buildOffer(lm, dirSendRecv)
	} else {
		var err error
		var c choice
		if sdp, c, err = buildAnswer(offer, lm); err != nil {
			return nil, nil, err
		}
		ch = &c
	}
	m.version = lm.version
	return sdp, ch, nil
}

// sdpHost is the address our SDP advertises.
func (u *UA) sdpHost() string { return u.pubHost }

func newMediaState(rtp *rtpPort) *mediaState {
	var b [12]byte
	_, _ = rand.Read(b[:])
	// The session id is random; the version starts small so that it stays
	// exact wherever it is read as a float (as sipp does).
	id := binary.BigEndian.Uint64(b[:8]) >> 2
	version := uint64(binary.BigEndian.Uint32(b[8:]) >> 8)
	return &mediaState{rtp: rtp, sessID: id, version: version}
}

// inboundInvite extracts what the core needs to decide on an INVITE.
func inboundInvite(req *sip.Request) (core.InboundInvite, error) {
	var inv core.InboundInvite
	cid, from, to := req.CallID(), req.From(), req.To()
	if cid == nil || from == nil || to == nil {
		return inv, errors.New("missing Call-ID, From or To")
	}
	inv.SIPCallID = cid.Value()
	inv.Called = uriUser(req.Recipient)
	if inv.Called == "" {
		inv.Called = uriUser(to.Address)
	}
	inv.Caller = uriUser(from.Address)
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return inv, fmt.Errorf("source %q: %w", req.Source(), err)
	}
	inv.Source = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	return inv, nil
}

// uriUser is a URI's user part without user parameters (";npdi") and
// percent-decoded; for a tel: URI, the number.
func uriUser(u sip.Uri) string {
	user := u.User
	if !strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips") && u.Scheme != "" {
		user = u.Raw()
	}
	user, _, _ = strings.Cut(user, ";")
	if dec, err := url.PathUnescape(user); err == nil {
		user = dec
	}
	return strings.TrimSpace(user)
}

// reasonPhraseFor is the standard reason phrase of a status we send.
func reasonPhraseFor(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 410:
		return "Gone"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 484:
		return "Address Incomplete"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 604:
		return "Does Not Exist Anywhere"
	}
	switch {
	case status < 500:
		return "Client Error"
	case status < 600:
		return "Server Error"
	}
	return "Global Failure"
}
