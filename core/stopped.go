package core

import "time"

// What a restart records of the calls a stopped process held: the store
// finds them still live (core.CallStore.EndLiveCalls) and ends them by
// these rules, so that the record says the same whichever store keeps it.

// TransferStoppedReason is the reason a transfer under way gets when the
// process holding its call stopped.
const TransferStoppedReason = "the server stopped during the transfer"

// EndStopped ends c, live when the process holding it stopped, at at for
// reason, its duration counted from its start when it had one.
func (c *Call) EndStopped(reason string, at time.Time) {
	c.Status, c.EndReason, c.EndedAt, c.UpdatedAt = CallEnded, reason, &at, at
	if c.StartedAt != nil {
		c.DurationSeconds = max(0, int(at.Sub(*c.StartedAt).Round(time.Second)/time.Second))
	}
}

// CancelStopped cancels t, not yet final when the process holding its
// call stopped, at at: a step says why, and the attempt under way ends
// with it, the human's leg it placed with it.
func (t *Transfer) CancelStopped(at time.Time) {
	t.Status, t.Reason, t.EndedAt, t.UpdatedAt = TransferCanceled, TransferStoppedReason, &at, at
	t.Steps = append(t.Steps, TransferStep{Status: TransferCanceled, Attempt: t.Attempt, Reason: TransferStoppedReason, At: at})
	if i := t.Attempt - 1; i >= 0 && i < len(t.Attempts) {
		a := &t.Attempts[i]
		a.Status, a.Reason, a.EndedAt = TransferCanceled, TransferStoppedReason, &at
		if a.LegStatus == LegDialing || a.LegStatus == LegAnswered {
			a.LegStatus = LegEnded
		}
	}
}
