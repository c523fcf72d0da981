package sip

import (
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// Hangup ends a call: BYE once answered (reported as
// core.EndAssistantHangup), 480 Temporarily Unavailable while it rings
// (core.EndRejected), CANCEL while it is dialled. A call that is unknown,
// already ended or being ended is not an error. CallEnded is reported
// before Hangup returns, unless the far side had already ended the call,
// which was then reported with its own reason. A BYE that fails or is not
// answered still ends the call on our side; that is logged, not returned.
// A Hangup for a call the core has just accepted but the user agent has
// not registered yet is applied as soon as it is (the call is refused).
func (u *UA) Hangup(ctx context.Context, callID string) error {
	c := u.calls.get(callID)
	if c == nil {
		if c = u.calls.hangupUnknown(callID); c == nil {
			return nil
		}
	}
	u.end(ctx, c, core.EndAssistantHangup, core.EndRejected, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
	return nil
}

// sendBye sends BYE in the call's dialog and waits for its answer. sipgo
// waits for the ACK of our 2xx first, as RFC 3261 15 requires.
func (u *UA) sendBye(ctx context.Context, c *call) error {
	st := u.net.Load()
	if st == nil {
		return errors.New("not listening")
	}
	c.mu.Lock()
	srv, cli := c.srv, c.cli
	c.mu.Unlock()
	target, ok := remoteTarget(srv, cli)
	if !ok {
		return errors.New("no remote target")
	}
	bye := sip.NewRequest(sip.BYE, target)
	u.prepare(st, bye, c.transport)
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	var err error
	if srv != nil {
		err = srv.WriteBye(ctx, bye)
	} else {
		err = cli.WriteBye(ctx, bye)
	}
	var dr sipgo.ErrDialogResponse
	if errors.As(err, &dr) && dr.Res.StatusCode == sip.StatusCallTransactionDoesNotExists {
		return nil // the far side had already forgotten the call
	}
	if err != nil {
		return fmt.Errorf("send BYE: %w", err)
	}
	return nil
}

// remoteTarget is where in-dialog requests go: the far side's Contact.
func remoteTarget(srv *sipgo.DialogServerSession, cli *sipgo.DialogClientSession) (sip.Uri, bool) {
	switch {
	case srv != nil:
		if ct := srv.InviteRequest.Contact(); ct != nil {
			return *ct.Address.Clone(), true
		}
	case cli != nil:
		if cli.InviteResponse != nil {
			if ct := cli.InviteResponse.Contact(); ct != nil {
				return *ct.Address.Clone(), true
			}
		}
		return *cli.InviteRequest.Recipient.Clone(), true
	}
	return sip.Uri{}, false
}

// dialogRequest sends a request in the call's dialog and returns its
// client transaction; the caller terminates it.
func (u *UA) dialogRequest(ctx context.Context, c *call, req *sip.Request) (sip.ClientTransaction, error) {
	st := u.net.Load()
	if st == nil {
		return nil, errors.New("not listening")
	}
	u.prepare(st, req, c.transport)
	c.mu.Lock()
	srv, cli := c.srv, c.cli
	c.mu.Unlock()
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	switch {
	case srv != nil:
		return srv.TransactionRequest(ctx, req)
	case cli != nil:
		return cli.TransactionRequest(ctx, req)
	}
	return nil, errors.New("call has no dialog")
}
