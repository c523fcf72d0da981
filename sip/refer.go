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
	return u.ReferTo(ctx, callID, core.ReferTarget{URI: referTo})
}

// ReferTo is Refer with the transferee's INVITE's extras in the Refer-To
// URI's headers (RFC 3261 19.1.1, escaped): target.Headers, and a Replaces
// (RFC 3891) naming target.Replaces, a dialog of ours, as the far side of
// it knows it: its to-tag is the far side's tag, its from-tag ours.
func (u *UA) ReferTo(ctx context.Context, callID string, target core.ReferTarget) (int, error) {
	referTo := target.URI
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
	referTo, err := referToURI(target)
	if err != nil {
		return 0, err
	}
	st := u.net.Load()
	if st == nil {
		return 0, core.Errorf(core.CodeUnavailable, "the SIP user agent is not listening")
	}
	c.mu.Lock()
	dest, ok := remoteTarget(c.srv, c.cli)
	c.mu.Unlock()
	if !ok {
		return 0, core.Errorf(core.CodeCallNotActive, "call %s has no dialog", callID)
	}
	contact := st.contacts[c.transport]
	req := sip.NewRequest(sip.REFER, dest)
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

// referToURI is the Refer-To URI with the target's headers, written by
// sipgo's Uri from values escaped here.
func referToURI(t core.ReferTarget) (string, error) {
	if len(t.Headers) == 0 && t.Replaces == nil {
		return t.URI, nil
	}
	var uri sip.Uri
	if err := sip.ParseUri(t.URI, &uri); err != nil || uri.Host == "" {
		return "", core.FieldError(core.CodeInvalidRequest, "refer_to", "refer-to %q cannot carry headers: not a SIP URI", clip(t.URI, 64))
	}
	// Headers the URI had (a Contact with headers of its own) are not ours
	// to pass on.
	uri.Headers = sip.NewParams()
	if r := t.Replaces; r != nil {
		if r.CallID == "" || r.LocalTag == "" || r.RemoteTag == "" {
			return "", core.Errorf(core.CodeInvalidRequest, "a Replaces needs the dialog's Call-ID and both tags")
		}
		uri.Headers = append(uri.Headers, sip.HeaderKV{K: "Replaces",
			V: escapeURIHeader(r.CallID + ";to-tag=" + r.RemoteTag + ";from-tag=" + r.LocalTag)})
	}
	for _, h := range t.Headers {
		if !headerNameSafe(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") {
			return "", core.FieldError(core.CodeInvalidRequest, "sip_headers", "header %q cannot be sent", clip(h.Name, 64))
		}
		uri.Headers = append(uri.Headers, sip.HeaderKV{K: escapeURIHeader(h.Name), V: escapeURIHeader(h.Value)})
	}
	return uri.String(), nil
}

// escapeURIHeader escapes a URI header name or value: RFC 3261's
// hnv-unreserved and unreserved characters stay, every other byte becomes
// %HH. sipgo writes URI headers as given, and net/url's escaping follows
// other rules (a space is '+'), hence this one.
func escapeURIHeader(s string) string {
	const keep = "-_.!~*'()[]/?:+$"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// headerNameSafe reports whether a header name is an RFC 3261 token.
func headerNameSafe(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// Dialog returns an answered call's dialog: its Call-ID, our tag and the
// far side's, and the far side's Contact.
func (u *UA) Dialog(callID string) (core.SIPDialog, error) {
	c := u.calls.get(callID)
	if c == nil {
		return core.SIPDialog{}, core.Errorf(core.CodeCallNotActive, "call %s is not active", callID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateAnswered {
		return core.SIPDialog{}, core.Errorf(core.CodeCallNotActive, "call %s is not in progress", callID)
	}
	var req *sip.Request
	var res *sip.Response
	switch {
	case c.cli != nil:
		req, res = c.cli.InviteRequest, c.cli.InviteResponse
	case c.srv != nil:
		req, res = c.srv.InviteRequest, c.srv.InviteResponse
	}
	if req == nil || res == nil || req.CallID() == nil || req.From() == nil || res.To() == nil {
		return core.SIPDialog{}, core.Errorf(core.CodeCallNotActive, "call %s has no dialog", callID)
	}
	fromTag, _ := req.From().Params.Get("tag")
	toTag, _ := res.To().Params.Get("tag")
	d := core.SIPDialog{CallID: req.CallID().Value(), LocalTag: fromTag, RemoteTag: toTag, SupportsReplaces: supports(res, "replaces")}
	if c.srv != nil { // we answered: our tag is in To
		d.LocalTag, d.RemoteTag = toTag, fromTag
		d.SupportsReplaces = supports(req, "replaces")
	}
	target, ok := remoteTarget(c.srv, c.cli)
	if !ok {
		return core.SIPDialog{}, core.Errorf(core.CodeCallNotActive, "call %s has no remote target", callID)
	}
	d.RemoteTarget = target.String()
	return d, nil
}

// supports reports whether a message lists the option tag in its
// Supported or Require headers (long or compact form).
func supports(m sip.Message, tag string) bool {
	for _, name := range []string{"Supported", "k", "Require"} {
		for _, h := range m.GetHeaders(name) {
			for _, v := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(v), tag) {
					return true
				}
			}
		}
	}
	return false
}
