package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// Options probes a trunk with an out-of-dialog OPTIONS (RFC 3261 11): the
// standard keep-alive carriers and PBXes answer, with their Allow list.
// A 401 or 407 is answered once with the trunk's credentials, through
// sipgo's DoDigestAuth (icholy/digest), as Dial does for INVITEs. The RTT
// is that of the last transaction. Any final response means reachable; a
// trunk that answers nothing before ctx ends is CodeUnavailable.
func (u *UA) Options(ctx context.Context, t core.Trunk) (core.TrunkHealth, error) {
	h := core.TrunkHealth{CheckedAt: time.Now().UTC().Truncate(time.Millisecond)}
	st := u.net.Load()
	if st == nil || u.closing.Load() {
		return h, &core.Error{Code: core.CodeUnavailable, Message: "the SIP user agent is not running", SIPStatus: sip.StatusServiceUnavailable}
	}
	host, port, tp := dialTarget(t, sip.Uri{})
	if host == "" {
		return h, core.FieldError(core.CodeInvalidRequest, "host", "the trunk has no host")
	}
	dua := st.dialogs[tp]
	if dua == nil {
		return h, &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("transport %s is not enabled", strings.ToLower(tp)), SIPStatus: sip.StatusServiceUnavailable}
	}
	target := sip.Uri{Scheme: "sip", Host: host, Port: port}
	if tp != tpUDP {
		target.UriParams = sip.NewParams()
		target.UriParams.Add("transport", strings.ToLower(tp))
	}
	req := sip.NewRequest(sip.OPTIONS, target)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: contactUser, Host: u.pubHost}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: port}})
	contact := st.contacts[tp]
	req.AppendHeader(contact.Clone())
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.SetDestination(net.JoinHostPort(host, strconv.Itoa(port)))
	u.prepare(st, req, tp)

	start := time.Now()
	res, err := dua.Client.Do(ctx, req)
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) && t.Username != "" {
		start = time.Now()
		if u.cfg.OnMessage != nil {
			u.cfg.OnMessage(false, string(sip.OPTIONS), false)
		}
		res, err = dua.Client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: t.Username, Password: t.Password})
	}
	h.RTTMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		msg := "the trunk did not answer the OPTIONS probe"
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sip.ErrTransactionTimeout):
			msg += fmt.Sprintf(" within %s", time.Since(start).Round(time.Millisecond))
		default:
			msg += ": " + err.Error()
		}
		return h, &core.Error{Code: core.CodeUnavailable, Message: msg, SIPStatus: sip.StatusRequestTimeout}
	}
	if src, perr := netip.ParseAddrPort(res.Source()); perr == nil {
		u.filter.trust(src.Addr().Unmap())
	}
	h.Reachable = true
	h.Status = res.StatusCode
	if v := res.GetHeader("User-Agent"); v != nil {
		h.UserAgent = clip(v.Value(), 200)
	} else if v := res.GetHeader("Server"); v != nil {
		h.UserAgent = clip(v.Value(), 200)
	}
	for _, a := range res.GetHeaders("Allow") {
		if h.Allow != "" {
			h.Allow += ", "
		}
		h.Allow += a.Value()
	}
	h.Allow = clip(h.Allow, 500)
	for m := range strings.SplitSeq(h.Allow, ",") {
		if strings.EqualFold(strings.TrimSpace(m), "REFER") {
			h.AllowsREFER = true
		}
	}
	if !res.IsSuccess() {
		h.Error = fmt.Sprintf("the trunk answered %d %s", res.StatusCode, clip(res.Reason, 100))
	}
	return h, nil
}
