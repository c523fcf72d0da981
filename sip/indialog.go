package sip

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// onBye ends a call the far side hung up.
func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	key, ok := requestKey(req)
	if !ok {
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c := u.calls.byDialog(key)
	if c == nil {
		if _, recent := u.calls.recentlyEnded(key); recent {
			u.reply(req, tx, sip.StatusOK, "OK")
			return
		}
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	u.confirmByRequest(c, req)
	c.mu.Lock()
	switch c.state {
	case stateRinging: // BYE in the early dialog: the caller gave up
		c.state = stateEnding
		c.endReason, c.endStatus, c.endPhrase = core.EndCallerHangup, sip.StatusRequestTerminated, "Request Terminated"
		c.mu.Unlock()
		u.reply(req, tx, sip.StatusOK, "OK")
		c.nudge()
	case stateAnswering, stateAnswered:
		c.state = stateEnding
		srv, cli := c.srv, c.cli
		c.mu.Unlock()
		var err error
		switch {
		case srv != nil:
			err = srv.ReadBye(req, tx)
		case cli != nil:
			err = cli.ReadBye(req, tx)
		default:
			u.reply(req, tx, sip.StatusOK, "OK")
		}
		if err != nil {
			u.log.Debug("BYE", "call_id", c.id, "err", err)
			u.reply(req, tx, sip.StatusOK, "OK")
		}
		u.finish(c, core.EndCallerHangup)
	default: // dialling, or we are ending it too (BYEs crossed)
		c.mu.Unlock()
		u.reply(req, tx, sip.StatusOK, "OK")
	}
}

// onOptions answers capability queries, in or out of a dialog.
func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if key, inDialog := requestKey(req); inDialog && !u.knownDialog(key) {
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	u.reply(req, tx, sip.StatusOK, "OK",
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", acceptTypes),
	)
}

// onInfo accepts INFO in a dialog; one carrying a DTMF key (SIP INFO
// application/dtmf-relay) is handed on as a key press.
func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	u.inDialogOnly(req, tx, sip.StatusOK, "OK")
	u.infoDigit(req)
}

// onRefer declines being transferred: we transfer, we are not transferred.
func (u *UA) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	u.inDialogOnly(req, tx, 603, "Decline")
}

// onOther handles every other method.
func (u *UA) onOther(req *sip.Request, tx sip.ServerTransaction) {
	u.inDialogOnly(req, tx, sip.StatusNotImplemented, "Not Implemented")
}

// inDialogOnly answers status/phrase to a request in a live dialog, 481 to
// one for a dialog we do not know and 405 to one outside any dialog.
func (u *UA) inDialogOnly(req *sip.Request, tx sip.ServerTransaction, status int, phrase string) {
	key, inDialog := requestKey(req)
	switch {
	case !inDialog:
		u.reply(req, tx, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
	case u.calls.byDialog(key) == nil:
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	default:
		u.reply(req, tx, status, phrase)
	}
}

func (u *UA) knownDialog(key string) bool {
	if u.calls.byDialog(key) != nil {
		return true
	}
	_, ok := u.calls.recentlyEnded(key)
	return ok
}

// onReInvite answers a re-INVITE (hold, resume, refresh) with our SDP on
// the same port, the direction mirrored and the o= version incremented.
func (u *UA) onReInvite(req *sip.Request, tx sip.ServerTransaction, key string) {
	c := u.calls.byDialog(key)
	if c == nil {
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	u.confirmByRequest(c, req)
	c.mu.Lock()
	defer c.mu.Unlock()
	// RFC 3261 14.2: 500 (with Retry-After) while our final response to a
	// lower INVITE is still to be sent, 491 only while an INVITE
	// transaction of ours is in progress. Once our 2xx is out, the
	// re-INVITE confirmed the dialog above.
	switch {
	case c.state == stateEnding || c.state == stateEnded:
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	case c.state == stateRinging || c.state == stateAnswering:
		u.reply(req, tx, sip.StatusInternalServerError, "Server Internal Error", sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(11))))
		return
	case c.state != stateAnswered:
		u.reply(req, tx, sip.StatusRequestPending, "Request Pending")
		return
	case c.media == nil:
		u.reply(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	sdp, negotiated, err := u.localSDP(req.Body(), c.media, true)
	if err != nil {
		u.log.Info("re-INVITE refused", "call_id", c.id, "err", err)
		u.reply(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
		return
	}
	res := sip.NewSDPResponseFromRequest(req, sdp)
	u.decorateDialogResponse(res, c.transport)
	if err := tx.Respond(res); err != nil {
		u.log.Info("answer re-INVITE", "call_id", c.id, "err", err)
		return
	}
	u.log.Info("re-INVITE answered", "call_id", c.id, "version", c.media.version)
	if negotiated != nil && u.cfg.Media != nil {
		u.cfg.Media.Update(c.id, mediaParams(*negotiated))
	}
	if p := c.reinvite; p != nil {
		p.timer.Stop()
		c.reinvite = nil
	}
	if c.transport == tpUDP && req.CSeq() != nil {
		p := &pendingReinvite{cseq: req.CSeq().SeqNo, tx: tx, res: res, interval: sip.T1, until: time.Now().Add(64 * sip.T1)}
		p.timer = time.AfterFunc(p.interval, func() { u.retransmit2xx(c, p) })
		c.reinvite = p
	}
}

// retransmit2xx resends a re-INVITE's 2xx until its ACK or 64*T1.
func (u *UA) retransmit2xx(c *call, p *pendingReinvite) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reinvite != p {
		return
	}
	if time.Now().After(p.until) {
		u.log.Info("no ACK for the 2xx to a re-INVITE", "call_id", c.id)
		c.reinvite = nil
		return
	}
	if err := p.tx.Respond(p.res); err != nil {
		c.reinvite = nil
		return
	}
	p.interval = min(2*p.interval, sip.T2)
	p.timer.Reset(p.interval)
}

// decorateDialogResponse adds our Contact and capabilities to a 2xx.
func (u *UA) decorateDialogResponse(res *sip.Response, tp string) {
	if st := u.net.Load(); st != nil && res.Contact() == nil {
		ct := st.contacts[tp]
		res.AppendHeader(ct.Clone())
	}
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	u.decorate(res)
}

func (u *UA) serverHeader() sip.Header { return sip.NewHeader("Server", u.cfg.UserAgent) }
