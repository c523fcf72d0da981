package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// Refer sends a REFER in the call's dialog with exactly one Refer-To
// (referTo, a sip:, sips: or tel: URI) and a Referred-By naming us, and
// returns the REFER's final status: 202 or 200 when accepted, otherwise
// the status the far side refused it with (a nil error: the status is the
// answer). No final response within ReferTimeout (or ctx's deadline)
// returns 408 and an error wrapping sip.ErrTransactionTimeout. A call that
// is unknown, not yet answered or ending is a core.CodeCallNotActive error.
// The NOTIFYs that follow, even those that overtake the 202, are reported
// through TransferProgress.
func (u *UA) Refer(ctx context.Context, callID, referTo string) (int, error) {
	c := u.calls.get(callID)
	if c == nil {
		return 0, core.Errorf(core.CodeCallNotActive, "call %s is not active", callID)
	}
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	if state != stateAnswered {
		return 0, core.Errorf(core.CodeCallNotActive, "call %s is not in progress", callID)
	}
	if err := checkReferTo(referTo); err != nil {
		return 0, err
	}
	st := u.net.Load()
	if st == nil {
		return 0, core.Errorf(core.CodeUnavailable, "the SIP user agent is not listening")
	}
	c.mu.Lock()
	target, ok := remoteTarget(c.srv, c.cli)
	c.mu.Unlock()
	if !ok {
		return 0, core.Errorf(core.CodeCallNotActive, "call %s has no dialog", callID)
	}
	contact := st.contacts[c.transport]
	req := sip.NewRequest(sip.REFER, target)
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+referTo+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+contact.Address.String()+">"))

	ctx, cancel := context.WithTimeout(ctx, u.cfg.ReferTimeout)
	defer cancel()
	tx, err := u.dialogRequest(ctx, c, req)
	if err != nil {
		return sip.StatusServiceUnavailable, fmt.Errorf("send REFER for call %s: %w", callID, err)
	}
	defer tx.Terminate()
	u.log.Info("REFER sent", "call_id", callID, "refer_to", referTo)
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			u.log.Info("REFER answered", "call_id", callID, "status", res.StatusCode, "reason", res.Reason)
			return res.StatusCode, nil
		case <-tx.Done():
			err := tx.Err()
			if errors.Is(err, sip.ErrTransactionTimeout) {
				return sip.StatusRequestTimeout, fmt.Errorf("REFER for call %s: no final response: %w", callID, err)
			}
			return sip.StatusServiceUnavailable, fmt.Errorf("REFER for call %s failed: %w", callID, err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return sip.StatusRequestTimeout, fmt.Errorf("REFER for call %s: no final response: %w (%w)", callID, sip.ErrTransactionTimeout, ctx.Err())
			}
			return 0, fmt.Errorf("REFER for call %s: %w", callID, ctx.Err())
		}
	}
}

// checkReferTo refuses a Refer-To that could break out of its <...>.
func checkReferTo(uri string) error {
	lower := strings.ToLower(uri)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") && !strings.HasPrefix(lower, "tel:") {
		return core.FieldError(core.CodeInvalidRequest, "refer_to", "refer-to %q is not a sip:, sips: or tel: URI", clip(uri, 64))
	}
	if strings.ContainsAny(uri, "<>\"\r\n\x00 \t") {
		return core.FieldError(core.CodeInvalidRequest, "refer_to", "refer-to %q has characters a URI cannot hold", clip(uri, 64))
	}
	return nil
}
