package sip

import (
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Over UDP sipgo keeps a NOTIFY's server transaction for Timer J (32 s)
// after it was answered, only to answer the NOTIFY's retransmissions with
// the same response. With two or three NOTIFYs a transfer, at a few
// hundred transfers a second those transactions (the request, the
// response, the transaction and its timers) were the largest part of the
// heap under overload once refused INVITEs stopped keeping any.
//
// In a live call the NOTIFY handler already answers a retransmission as
// it answered the original, and reports it no second time: it reports
// only a CSeq above the last one reported (a retransmission has the same
// CSeq), and it answers 200 either way; its 481, 489 and 400 depend only
// on the request and on dialogs, which do not come back. So once a NOTIFY
// over UDP in a live call has its final answer, its transaction is ended
// at once; a retransmission, which comes only when that answer was lost,
// makes a new transaction that the handler answers the same way. Should
// the call end before the retransmission comes, the dialog is remembered
// for EndedDialogTTL and the NOTIFY answered 200 again; what the handler
// reports then is for a call the core no longer holds, which it ignores
// (Calls.TransferProgress). That holds while an ended dialog is
// remembered at least as long as the peer retransmits (Timer F, the same
// 64×T1 as Timer J): with a shorter EndedDialogTTL, and for a NOTIFY in a
// call that already ended, the transaction is left to sipgo's timer.
//
// TCP and TLS need nothing: there Timer J is zero.

// answeredTx records whether a final response went out through the
// transaction.
type answeredTx struct {
	sip.ServerTransaction
	final atomic.Bool
}

func (t *answeredTx) Respond(res *sip.Response) error {
	err := t.ServerTransaction.Respond(res)
	if err == nil && res.StatusCode >= 200 {
		t.final.Store(true)
	}
	return err
}

// endAnsweredOverUDP wraps a non-INVITE handler whose answers in a live
// call are idempotent (see above): once it has answered a request over UDP
// with a final response, in a call still live, the request's server
// transaction ends.
func (u *UA) endAnsweredOverUDP(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if tx == nil || req.Transport() != tpUDP || u.cfg.EndedDialogTTL < sip.Timer_J {
			h(req, tx)
			return
		}
		at := &answeredTx{ServerTransaction: tx}
		h(req, at)
		if !at.final.Load() {
			return
		}
		if key, inDialog := requestKey(req); inDialog && u.calls.byDialog(key) != nil {
			tx.Terminate()
		}
	}
}
