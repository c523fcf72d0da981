package sip

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// Dial places an outbound call: an INVITE to d.To, sent to the trunk's
// host:port over its transport, From d.From, with our SDP offer (PCMU,
// PCMA, telephone-event) on a reserved RTP port. A 401 or 407 challenge is
// answered with the trunk's username and password. On a 2xx it ACKs,
// reports CallAnswered and returns nil; the call is then held like an
// inbound one. d.Headers are added to the INVITE. If ctx ends first the
// INVITE is cancelled. On failure it
// returns a *core.Error whose SIPStatus is the final status (487 when
// cancelled, 408 on timeout, 503 when the trunk cannot be reached):
// CodeTransferFailed when the far side refused the call, CodeUnavailable
// otherwise; the call is also reported ended (no_answer, rejected, failed).
func (u *UA) Dial(ctx context.Context, d core.OutboundDial) error {
	if strings.TrimSpace(d.CallID) == "" {
		return core.FieldError(core.CodeMissingField, "call_id", "call id is required")
	}
	st := u.net.Load()
	if st == nil || u.closing.Load() {
		return &core.Error{Code: core.CodeUnavailable, Message: "the SIP user agent is not running", SIPStatus: sip.StatusServiceUnavailable}
	}
	var to sip.Uri
	if err := sip.ParseUri(d.To, &to); err != nil || to.Host == "" {
		return core.FieldError(core.CodeInvalidRequest, "to", "%q is not a SIP URI", clip(d.To, 80))
	}
	for _, h := range d.Headers {
		if !headerNameSafe(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") {
			return core.FieldError(core.CodeInvalidRequest, "sip_headers", "header %q cannot be sent", clip(h.Name, 64))
		}
	}
	host, port, tp := dialTarget(d.Trunk, to)
	dua := st.dialogs[tp]
	if dua == nil {
		return &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("transport %s is not enabled", strings.ToLower(tp)), SIPStatus: sip.StatusServiceUnavailable}
	}

	// An outbound call counts against MaxCalls as an inbound one does: at
	// the cap nothing is sent and the caller is told when to retry.
	if !u.admit() {
		secs := u.busyRetryAfter()
		u.log.Info("outbound call refused: at the maximum of calls", "max_calls", u.cfg.MaxCalls, "call_id", d.CallID)
		return &core.Error{Code: core.CodeOverloaded, RetryAfter: secs,
			Message: fmt.Sprintf("the server holds its maximum of %d calls (VOICEDOCK_MAX_CALLS); no call was placed; retry after %d seconds", u.cfg.MaxCalls, secs)}
	}
	var admitDone sync.Once
	admitted := func() { admitDone.Do(u.admitted) }
	defer admitted()

	c := newCall(d.CallID, false, tp, stateDialing)
	defer close(c.setupDone)
	rtp, err := u.ports.acquire()
	if err != nil {
		return &core.Error{Code: core.CodeUnavailable, Message: "no free RTP port", SIPStatus: sip.StatusServiceUnavailable}
	}
	c.media = newMediaState(rtp)
	fromTag := sip.GenerateTagN(16)
	sipCallID := d.SIPCallID
	if sipCallID == "" {
		sipCallID = randomHex(16)
	}
	c.key = dialogKey(sipCallID, fromTag)
	registered := u.register(c)
	admitted() // the call counts itself from here on, or was refused
	if !registered {
		u.ports.release(rtp)
		return core.Errorf(core.CodeConflict, "call %s is already live", d.CallID)
	}
	log := u.log.With("call_id", d.CallID, "sip_call_id", sipCallID, "to", d.To)

	req := sip.NewRequest(sip.INVITE, to)
	from := &sip.FromHeader{Address: fromURI(d.From, host), Params: sip.NewParams()}
	from.Params.Add("tag", fromTag)
	toHdr := &sip.ToHeader{Address: sip.Uri{Scheme: to.Scheme, User: to.User, Host: to.Host, Port: to.Port}}
	cid := sip.CallIDHeader(sipCallID)
	contact := st.contacts[tp]
	req.AppendHeader(from)
	req.AppendHeader(toHdr)
	req.AppendHeader(&cid)
	req.AppendHeader(contact.Clone())
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	for _, h := range identityHeaders(d, from.Address) {
		req.AppendHeader(h)
	}
	for _, h := range d.Headers {
		req.AppendHeader(sip.NewHeader(h.Name, h.Value))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(buildOffer(localMedia{addr: u.sdpHost(), port: rtp.port, sessID: c.media.sessID, version: c.media.version}, dirSendRecv))
	req.SetDestination(net.JoinHostPort(host, strconv.Itoa(port)))
	u.prepare(st, req, tp)

	dialCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.mu.Lock()
	c.dialCancel = cancel
	if c.state == stateEnding { // hung up before it was registered
		reason := c.endReason
		c.mu.Unlock()
		cancel(errEndedByUs{reason: reason})
		return u.dialFailed(c, dialCtx, errors.New("hung up"), log)
	}
	c.mu.Unlock()

	log.Info("dialling", "trunk", req.Destination(), "transport", tp)
	sess, err := dua.WriteInvite(dialCtx, req)
	if err != nil {
		return u.dialFailed(c, dialCtx, fmt.Errorf("send INVITE: %w", err), log)
	}
	c.mu.Lock()
	c.cli = sess
	c.mu.Unlock()
	err = sess.WaitAnswer(dialCtx, sipgo.AnswerOptions{
		Username: d.Trunk.Username,
		Password: d.Trunk.Password,
		OnResponse: func(res *sip.Response) error {
			log.Debug("INVITE response", "status", res.StatusCode, "reason", res.Reason)
			// The trunk answers this INVITE: its calls' messages are not a flood.
			if src, err := netip.ParseAddrPort(res.Source()); err == nil {
				u.filter.trust(src.Addr().Unmap())
			}
			return nil
		},
	})
	if err != nil {
		return u.dialFailed(c, dialCtx, err, log)
	}
	if err := sess.Ack(dialCtx); err != nil {
		log.Warn("send ACK", "err", err)
	}

	c.mu.Lock()
	if c.state != stateDialing { // Hangup or Shutdown while it was answered
		reason := c.endReason
		c.acked = true
		c.mu.Unlock()
		bctx, bcancel := context.WithTimeout(reportCtx(), 5*time.Second)
		defer bcancel()
		if err := u.sendBye(bctx, c); err != nil {
			log.Info("BYE after a hang-up while dialling", "err", err)
		}
		u.finish(c, reason)
		return &core.Error{Code: core.CodeUnavailable, Message: "the call was hung up while it was being answered", SIPStatus: sip.StatusRequestTerminated}
	}
	c.state = stateAnswered
	c.acked = true
	c.answering = true
	c.mu.Unlock()
	if ch, err := answeredMedia(sess.InviteResponse.Body()); err != nil {
		log.Warn("the answer's SDP is unusable; the call stays silent", "err", err)
	} else {
		u.startMedia(c, ch)
	}
	u.reportAnswered(c)
	return nil
}

// dialFailed classifies a failed dial, reports the call ended and returns
// the error for the core.
func (u *UA) dialFailed(c *call, dialCtx context.Context, err error, log *slog.Logger) error {
	if e := certificateError(err); e != nil {
		log.Warn("dial failed: the trunk's TLS certificate was refused", "err", err)
		u.finish(c, core.EndFailed)
		return e
	}
	status, reason, code := sip.StatusServiceUnavailable, core.EndFailed, core.CodeUnavailable
	msg := "the call could not be placed: " + err.Error()
	var byUs errEndedByUs
	var dr *sipgo.ErrDialogResponse
	var drv sipgo.ErrDialogResponse
	switch {
	case errors.As(context.Cause(dialCtx), &byUs):
		status, reason = sip.StatusRequestTerminated, byUs.reason
		msg = "the call was hung up before it was answered"
	case errors.As(err, &dr) || errors.As(err, &drv):
		res := drv.Res
		if dr != nil {
			res = dr.Res
		}
		status, code = res.StatusCode, core.CodeTransferFailed
		reason = core.EndRejected
		switch status {
		case sip.StatusRequestTimeout, sip.StatusTemporarilyUnavailable, sip.StatusRequestTerminated:
			reason = core.EndNoAnswer
		}
		msg = fmt.Sprintf("the far side answered %d %s", status, res.Reason)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status, reason = sip.StatusRequestTerminated, core.EndNoAnswer
		msg = "the call was not answered in time"
	case errors.Is(err, sip.ErrTransactionTimeout):
		status, reason = sip.StatusRequestTimeout, core.EndNoAnswer
		msg = "the trunk did not answer the INVITE"
	}
	log.Info("dial failed", "status", status, "err", err)
	u.finish(c, reason)
	return &core.Error{Code: code, Message: msg, SIPStatus: status}
}

// dialTarget is where the INVITE goes: the trunk's host, port and
// transport, falling back to the Request-URI's.
func dialTarget(t core.Trunk, to sip.Uri) (host string, port int, tp string) {
	host, port = t.Host, t.Port
	if host == "" {
		host = to.Host
	}
	host = strings.Trim(host, "[]")
	transport := strings.ToLower(t.Transport)
	if transport == "" {
		transport = strings.ToLower(to.UriParams.GetOr("transport", core.TransportUDP))
	}
	if port == 0 && t.Host == "" {
		port = to.Port
	}
	if port == 0 {
		port = 5060
		if transport == core.TransportTLS {
			port = 5061
		}
	}
	return host, port, strings.ToUpper(transport)
}

// fromURI is the From address of an outbound call: d.From as a URI when it
// is one, else a number at the trunk's host.
func fromURI(from, host string) sip.Uri {
	from = strings.TrimSpace(from)
	if strings.HasPrefix(strings.ToLower(from), "sip:") || strings.HasPrefix(strings.ToLower(from), "sips:") {
		var u sip.Uri
		if err := sip.ParseUri(from, &u); err == nil {
			return u
		}
	}
	if from == "" {
		from = contactUser
	}
	return sip.Uri{Scheme: "sip", User: from, Host: host}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// identityHeaders assert the caller id of an outbound call
// (P-Asserted-Identity, RFC 3325: trunks that trust us take the identity
// from it, and it is what a caller_id caller passes on) and, when it is
// the caller's number rather than ours, the number the call was diverted
// from (Diversion, RFC 5806). A From that is no phone number (the
// default contact user) asserts nothing.
func identityHeaders(d core.OutboundDial, from sip.Uri) []sip.Header {
	if !strings.HasPrefix(from.User, "+") {
		return nil
	}
	hs := []sip.Header{sip.NewHeader("P-Asserted-Identity", "<"+from.String()+">")}
	if div := strings.TrimSpace(d.DivertedFrom); strings.HasPrefix(div, "+") && div != from.User {
		u := sip.Uri{Scheme: from.Scheme, User: div, Host: from.Host, Port: from.Port}
		hs = append(hs, sip.NewHeader("Diversion", "<"+u.String()+">;reason=unconditional"))
	}
	return hs
}
