package core

import (
	"context"
	"net/url"

	"github.com/emiago/sipgo/sip"
	"github.com/voicedock/voicedock/core/numbering"
)

// checkSIP applies the SIP rules: the URI must be safe, its host allowed,
// and a phone number in its user part passes the number rules (a PBX or
// trunk would dial it).
func (p *Policy) checkSIP(ctx context.Context, store Store, param, s string, a *Assistant, lenient bool) (Verdict, error) {
	canonical, err := ValidateSIPURI(param, s)
	if err != nil {
		return Verdict{}, err
	}
	var uri sip.Uri
	if err := sip.ParseUri(canonical, &uri); err != nil {
		return Verdict{}, FieldError(CodeInvalidRequest, param, "SIP URI %q cannot be parsed: %v", clip(s), err)
	}
	v := Verdict{Allowed: true, SIPURI: canonical, SIPHost: numbering.NormHost(uri.Host)}
	v, err = p.sipUser(ctx, store, param, v, uri.User, a, lenient)
	if err != nil || !v.Allowed {
		return v, err
	}
	domains, fromTrunks, err := p.allowedDomains(ctx, store)
	if err != nil {
		return v, err
	}
	switch {
	case !fromTrunks && !domains.Matches(v.SIPHost):
		return refused(v, RuleSIPDomains, "%s is not an allowed SIP domain (VOICEDOCK_SIP_ALLOWED_DOMAINS: %s)", v.SIPHost, domains), nil
	case fromTrunks && domains.Empty() && !lenient:
		return refused(v, RuleSIPDomains, "%s is not an allowed SIP domain: VOICEDOCK_SIP_ALLOWED_DOMAINS is not set, so only the hosts of the configured trunks are, and there are none", v.SIPHost), nil
	case fromTrunks && !domains.Empty() && !domains.Matches(v.SIPHost):
		return refused(v, RuleSIPDomains, "%s is not an allowed SIP domain; VOICEDOCK_SIP_ALLOWED_DOMAINS is not set, so only the hosts of the configured trunks (%s) are", v.SIPHost, domains), nil
	}
	return v, nil
}

// maxExtensionDigits is the longest all-digit SIP user part taken for an
// extension rather than a phone number.
const maxExtensionDigits = 6

// sipUser applies the number rules to a SIP URI's user part when it is a
// phone number: +E.164 is checked as that number; digits without + are an
// extension when short (unless an emergency number) and refused when long,
// because their country cannot be told.
func (p *Policy) sipUser(ctx context.Context, store Store, param string, v Verdict, user string, a *Assistant, lenient bool) (Verdict, error) {
	if user == "" {
		return v, nil
	}
	u, err := url.PathUnescape(user)
	if err != nil {
		return Verdict{}, FieldError(CodeInvalidRequest, param, "SIP URI user part has a malformed escape")
	}
	rest, plus, ok := numbering.SubscriberDigits(u)
	if !ok {
		return v, nil // not a number: a name or an extension like desk
	}
	if plus {
		nv, err := p.checkNumber(ctx, store, param, "+"+rest, a, lenient)
		if err != nil {
			return Verdict{}, FieldError(CodeInvalidRequest, param, "the SIP URI's user part %s is not a valid E.164 number", clip(user))
		}
		nv.SIPURI, nv.SIPHost = v.SIPURI, v.SIPHost
		return nv, nil
	}
	if where, ok := p.shortEmergency(ctx, store, rest); ok {
		v.NumberType = "emergency"
		return refused(v, RuleEmergency, "the SIP URI's user part %s is %s; emergency numbers are never transfer destinations", rest, where), nil
	}
	if len(rest) > maxExtensionDigits {
		return refused(v, RuleSIPNumberForm, "the SIP URI's user part %s looks like a phone number that is not in E.164 form, so its country and type cannot be checked; write it as +<country code><number>", clip(rest)), nil
	}
	return v, nil
}

// shortEmergency reports whether digits dialled through a PBX or trunk
// would reach an emergency service: 112, 911 and 999 anywhere, and the
// emergency numbers of the deployment's countries (those configured and
// those of its own numbers). It returns where.
func (p *Policy) shortEmergency(ctx context.Context, store Store, digits string) (string, bool) {
	own, err := p.own.get(ctx, store)
	if err != nil {
		return numbering.ShortEmergency(digits, nil)
	}
	return numbering.ShortEmergency(digits, append(p.countries.Regions(), own.Regions()...))
}

// allowedDomains returns the configured SIP hosts, or the trunks' hosts
// (fromTrunks).
func (p *Policy) allowedDomains(ctx context.Context, store Store) (numbering.HostSet, bool, error) {
	if !p.fromTrunks {
		return p.domains, false, nil
	}
	set := numbering.NewHostSet()
	if store == nil {
		return set, true, nil
	}
	err := eachPage(ctx, store.ListTrunks, func(t Trunk) { set.Add(t.Host) })
	if err != nil {
		return set, true, Internal("listing trunks for the transfer policy", err)
	}
	return set, true, nil
}
