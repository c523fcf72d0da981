package sip

import (
	"github.com/emiago/sipgo/sip"
)

// confirmByRequest treats a request of the caller's in the dialog with a
// CSeq above its INVITE's as the ACK of our 2xx: the caller sent it after
// receiving that 2xx (RFC 3261 12.2.1.1, 14.2), and sipgo handles each
// request on its own goroutine, so a re-INVITE or BYE sent right behind
// the ACK can be handled before it (and the ACK may be lost). The call is
// confirmed and reported answered before req is handled, so a BYE ends an
// answered call and a re-INVITE finds an established dialog. The real ACK,
// when it comes, finds the call acked and does nothing.
func (u *UA) confirmByRequest(c *call, req *sip.Request) {
	cseq := req.CSeq()
	c.mu.Lock()
	srv := c.srv
	if srv == nil || c.acked || !c.okSent || c.state != stateAnswering || cseq == nil ||
		srv.InviteRequest.CSeq() == nil || cseq.SeqNo <= srv.InviteRequest.CSeq().SeqNo {
		c.mu.Unlock()
		return
	}
	c.acked = true
	c.state = stateAnswered
	c.answering = true
	c.mu.Unlock()
	// sipgo retransmits the 2xx until the dialog is confirmed, which only
	// its ReadAck does; it checks no more than the CSeq of the INVITE.
	if err := srv.ReadAck(srv.InviteRequest, nil); err != nil {
		u.log.Debug("confirm dialog", "call_id", c.id, "err", err)
	}
	u.log.Info("2xx confirmed by a later request before its ACK", "call_id", c.id, "method", string(req.Method))
	u.reportAnswered(c)
}
