package core

import "context"

// CancelTransfer stops the call's transfer transferID while it is still
// under way and records it as canceled with why: the server's own leg to
// the destination (warm, bridge) is hung up, a held caller comes off hold,
// a REFER not yet sent is never sent, and the caller stays with the
// assistant. A blind transfer whose REFER the caller's side already
// accepted cannot be recalled (RFC 3515 has no way to); its later NOTIFYs
// are no longer acted on. A transfer that already ended is returned as it
// is, with a conflict error.
func (m *Calls) CancelTransfer(ctx context.Context, callID, transferID, why string) (Transfer, error) {
	lc := m.get(callID)
	if lc == nil {
		return Transfer{}, m.notLive(ctx, callID)
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	t := lc.active
	if t == nil || t.ID != transferID || t.Final() {
		return Transfer{}, FieldError(CodeConflict, "transfer_id", "transfer %s of call %s is not under way", clip(transferID), callID)
	}
	m.stepLocked(ctx, lc, TransferCanceled, 0, why)
	return cloneTransfer(*t), nil
}
