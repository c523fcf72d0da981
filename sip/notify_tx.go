package sip

import (
	"fmt"

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
// on the request and on dialogs, which do not come back. So a NOTIFY over
// UDP in a live call has its transaction ended as its final answer goes
// out, and the answer is sent without it; a retransmission, which comes
// only when that answer was lost, makes a new transaction that the handler
// answers the same way. The transaction ends before the answer leaves, not
// once the handler returns: the handler answers first and reports the
// step after, so a retransmission arriving meanwhile found the transaction
// still there, and whether sipgo or the handler answered it depended on
// timing. Should the call end before the retransmission comes, the dialog
// is remembered for EndedDialogTTL and the NOTIFY answered 200 again;
// what the handler reports then is for a call the core no longer holds,
// which it ignores (Calls.TransferProgress). That holds while an ended
// dialog is remembered at least as long as the peer retransmits (Timer F,
// the same 64×T1 as Timer J): with a shorter EndedDialogTTL, and for a
// NOTIFY in a call that already ended, the transaction is left to sipgo's
// timer.
//
// TCP and TLS need nothing: there Timer J is zero.

// liveCallTx sends a final answer in a live call without its transaction,
// which it ends first; anything else goes through the transaction.
type liveCallTx struct {
	sip.ServerTransaction
	live  func() bool
	write func(*sip.Response) error // UA.writeResponse
}

func (t *liveCallTx) Respond(res *sip.Response) error {
	if res.StatusCode < 200 || !t.live() {
		return t.ServerTransaction.Respond(res)
	}
	t.ServerTransaction.Terminate()
	if err := t.write(res); err != nil {
		return fmt.Errorf("send %d without its ended transaction: %w", res.StatusCode, err)
	}
	return nil
}

// endAnsweredOverUDP wraps a non-INVITE handler whose answers in a live
// call are idempotent (see above): over UDP, in a call still live, its
// final answer ends the request's server transaction.
func (u *UA) endAnsweredOverUDP(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if tx == nil || req.Transport() != tpUDP || u.cfg.EndedDialogTTL < sip.Timer_J {
			h(req, tx)
			return
		}
		live := func() bool {
			key, inDialog := requestKey(req)
			return inDialog && u.calls.byDialog(key) != nil
		}
		h(req, &liveCallTx{ServerTransaction: tx, live: live, write: u.writeResponse})
	}
}
