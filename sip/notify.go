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
// 3515): each takes its place in the call's order of steps, is answered,
// then its sipfrag status is reported as TransferProgress. Whatever the
// far side's habits, a NOTIFY in a known dialog is reported: before the
// REFER's 202, with a final status and "Subscription-State: active", or
// shortly after the call ended (a late NOTIFY after our BYE is answered
// 200). A NOTIFY for no dialog we know gets 481, one for another event
// package 489, and a malformed sipfrag 400 with nothing reported. A
// NOTIFY without a body (some UAs end the subscription that way) is
// answered 200 and reports nothing.
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
	p := core.ReferProgress{Status: status, Reason: reason}
	if c == nil {
		u.reply(req, tx, sip.StatusOK, "OK")
		u.logProgress(req, callID, p, debug)
		u.handler.TransferProgress(reportCtx(), callID, p)
		return
	}
	// The step takes its place before the NOTIFY is answered: the far side
	// sends its next NOTIFY as soon as it has our 200, and that one,
	// handled on another goroutine, could otherwise take its place first
	// and make this one stale (a CI run lost a transfer's "100 Trying" so).
	// It is reported only once answered, by whichever handler reports
	// then: a step reported before its NOTIFY's answer could have the core
	// hang up first (a completed transfer's BYE overtaking the 200).
	step, queued := u.queueNotify(c, callID, req.CSeq(), p)
	if !queued {
		u.reply(req, tx, sip.StatusOK, "OK")
		return
	}
	// Deferred, so that a step is marked answered even if answering
	// panics (the stack's guard recovers): the steps behind it would
	// otherwise wait for it for the rest of the call.
	defer func() {
		u.markAnswered(c, step)
		u.reportNotifies(c, callID)
	}()
	// Marked as the answer leaves too, before OnMessage hears of it: a
	// test holds the handler there to stand for a loaded machine.
	u.replyThen(req, tx, sip.StatusOK, "OK", func() { u.markAnswered(c, step) })
	u.logProgress(req, callID, p, debug)
}

// markAnswered marks step of c answered; one already reported is gone
// from the queue.
func (u *UA) markAnswered(c *call, step uint64) {
	c.notifyMu.Lock()
	for i := range c.notified {
		if c.notified[i].seq == step {
			c.notified[i].answered = true
			break
		}
	}
	c.notifyMu.Unlock()
}

// logProgress adds the subscription state to the core's "transfer step"
// line, at debug, for debugging a far side's habits.
func (u *UA) logProgress(req *sip.Request, callID string, p core.ReferProgress, debug bool) {
	if debug {
		u.log.Debug("transfer progress", "call_id", callID, "status", p.Status, "reason", p.Reason,
			"subscription_state", headerValue(req, "Subscription-State"))
	}
}

// notifyStep is a NOTIFY's step in its call's queue.
type notifyStep struct {
	seq      uint64 // the call's count of steps queued, naming this one
	progress core.ReferProgress
	answered bool // its 200 has been sent
}

// queueNotify queues p, a NOTIFY of c with CSeq cseq, in the order of the
// CSeqs, and returns its name in the queue. A NOTIFY with a CSeq at or
// below one already queued is stale (a retransmission, or a "100 Trying"
// overtaken by the final step) and is not queued.
func (u *UA) queueNotify(c *call, callID string, cseq *sip.CSeqHeader, p core.ReferProgress) (step uint64, queued bool) {
	c.notifyMu.Lock()
	if cseq != nil {
		if cseq.SeqNo <= c.lastNotifyCSeq {
			last := c.lastNotifyCSeq
			c.notifyMu.Unlock()
			u.log.Info("stale NOTIFY not reported: a later one was", "call_id", callID, "status", p.Status, "cseq", cseq.SeqNo, "last_cseq", last)
			return 0, false
		}
		c.lastNotifyCSeq = cseq.SeqNo
	}
	c.notifySeq++
	step = c.notifySeq
	c.notified = append(c.notified, notifyStep{seq: step, progress: p})
	c.notifyMu.Unlock()
	return step, true
}

// reportNotifies reports the answered steps at the head of c's queue, in
// their order. The first handler to get here reports; steps answered
// while it does are reported by it next, all at once: they then share one
// write in the core (steps that arrive together). A step answered behind
// one not yet answered waits for it; that one's handler reports both.
func (u *UA) reportNotifies(c *call, callID string) {
	c.notifyMu.Lock()
	if c.reporting {
		c.notifyMu.Unlock()
		return
	}
	c.reporting = true
	held := true
	defer func() {
		// Also when the report panics (the stack's guard recovers): the
		// next NOTIFY to be answered reports then, with those queued.
		if !held {
			c.notifyMu.Lock()
		}
		c.reporting = false
		c.notifyMu.Unlock()
	}()
	for {
		n := 0
		for n < len(c.notified) && c.notified[n].answered {
			n++
		}
		if n == 0 {
			return
		}
		batch := make([]core.ReferProgress, n)
		for i, s := range c.notified[:n] {
			batch[i] = s.progress
		}
		c.notified = append(c.notified[:0], c.notified[n:]...)
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
