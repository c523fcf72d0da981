package sip

import (
	"strconv"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// coreAdmits asks the core, when it takes part in admission
// (core.CallAdmitter), whether a new call may be answered now: besides
// the cap on calls held, the core refuses new calls while it is behind on
// the transfers it already took on, so that a caller is not answered only
// to wait for a transfer the server cannot start in time.
func (u *UA) coreAdmits() bool {
	a, ok := u.handler.(core.CallAdmitter)
	return !ok || a.AdmitCall()
}

// refuseBusy answers a new INVITE the server has no room for with 503 and
// Retry-After, before the core is asked about it; nothing is kept. The
// core logs when it starts and stops refusing, so each refusal is logged
// at debug level only: under overload they come by the hundred a second.
func (u *UA) refuseBusy(req *sip.Request, tx sip.ServerTransaction, why string) {
	u.busy.Add(1)
	u.log.Debug("inbound call refused", "why", why, "source", req.Source())
	u.reply(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(u.busyRetryAfter())))
}
