package sip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// onNotify handles the NOTIFYs of a REFER's implicit subscription (RFC
// 3515): each is answered first, then its sipfrag status is reported as
// TransferProgress. Whatever the far side's habits, a NOTIFY in a known
// dialog is reported: before the REFER's 202, with a final status and
// "Subscription-State: active", or shortly after the call ended (a late
// NOTIFY after our BYE is answered 200). A NOTIFY for no dialog we know
// gets 481, one for another event package 489, and a malformed sipfrag 400
// with nothing reported. A NOTIFY without a body (some UAs end the
// subscription that way) is answered 200 and reports nothing.
func (u *UA) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	key, inDialog := requestKey(req)
	if !inDialog {
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	var callID string
	c := u.calls.byDialog(key)
	if c != nil {
		callID = c.id
	} else if id, ok := u.calls.recentlyEnded(key); ok {
		callID = id
	} else {
		u.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if ev := headerValue(req, "Event", "o"); ev != "" {
		pkg, _, _ := strings.Cut(ev, ";")
		if !strings.EqualFold(strings.TrimSpace(pkg), "refer") {
			u.reply(req, tx, 489, "Bad Event", sip.NewHeader("Allow-Events", "refer"))
			return
		}
	}
	body := req.Body()
	// Asked first: the line's arguments (the body's copy above all) cost
	// allocations on every NOTIFY even when the line is dropped.
	debug := u.log.Enabled(context.Background(), slog.LevelDebug)
	if debug {
		u.log.Debug("NOTIFY", "call_id", callID, "body", string(body))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		u.reply(req, tx, sip.StatusOK, "OK")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	status, reason, err := ParseSipfrag(ct, body)
	if err != nil {
		u.log.Info("NOTIFY with a malformed sipfrag", "call_id", callID, "err", err)
		u.reply(req, tx, sip.StatusBadRequest, "Bad Request")
		return
	}
	u.reply(req, tx, sip.StatusOK, "OK")
	// The core logs each step at info ("transfer step"); this line adds
	// the subscription state, for debugging a far side's habits.
	if debug {
		u.log.Debug("transfer progress", "call_id", callID, "status", status, "reason", reason,
			"subscription_state", headerValue(req, "Subscription-State"))
	}
	p := core.ReferProgress{Status: status, Reason: reason}
	if c == nil {
		u.handler.TransferProgress(reportCtx(), callID, p)
		return
	}
	u.reportNotify(c, callID, req.CSeq(), p)
}

// reportNotify reports p, a NOTIFY of c with CSeq cseq, in the order of
// the CSeqs. The first NOTIFY to arrive reports; those that arrive while
// it does queue, and it reports them next, all at once: their steps then
// share one write in the core (steps that arrive together). A NOTIFY
// with a CSeq at or below one already taken is stale and not reported.
func (u *UA) reportNotify(c *call, callID string, cseq *sip.CSeqHeader, p core.ReferProgress) {
	c.notifyMu.Lock()
	if cseq != nil {
		if cseq.SeqNo <= c.lastNotifyCSeq {
			last := c.lastNotifyCSeq
			c.notifyMu.Unlock()
			u.log.Info("stale NOTIFY not reported: a later one was", "call_id", callID, "status", p.Status, "cseq", cseq.SeqNo, "last_cseq", last)
			return
		}
		c.lastNotifyCSeq = cseq.SeqNo
	}
	c.notified = append(c.notified, p)
	if c.reporting {
		c.notifyMu.Unlock()
		return
	}
	c.reporting = true
	held := true
	defer func() {
		// Also when the report panics (the stack's guard recovers): the
		// next NOTIFY to arrive reports then, with those queued.
		if !held {
			c.notifyMu.Lock()
		}
		c.reporting = false
		c.notifyMu.Unlock()
	}()
	for len(c.notified) > 0 {
		batch := c.notified
		c.notified = nil
		c.notifyMu.Unlock()
		held = false
		u.handler.TransferProgress(reportCtx(), callID, batch...)
		c.notifyMu.Lock()
		held = true
	}
}

// headerValue is the value of the first header with any of the names
// (long and compact forms), or "".
func headerValue(req *sip.Request, names ...string) string {
	for _, n := range names {
		if h := req.GetHeader(n); h != nil {
			return strings.TrimSpace(h.Value())
		}
	}
	return ""
}
