package core

import (
	"context"
	"fmt"
	"strings"

	"github.com/voicedock/voicedock/core/numbering"
)

// Check decides whether a caller may be transferred to dest now. With an
// assistant it also applies the assistant's transfer_policy and the ad-hoc
// rule (dest must be one of the assistant's destinations unless ad-hoc
// transfers are allowed); with none, only the deployment's rules (what
// create_call's destination gets). Rules are applied in this order:
// emergency numbers, denied types, the deployment's countries, the
// assistant's countries, SIP hosts, ad-hoc. A malformed destination is an
// error (invalid_request); a refusal is a Verdict, not an error. The store
// is read for the rules that default to the deployment's own numbers and
// trunks.
func (p *Policy) Check(ctx context.Context, store Store, dest Destination, assistant *Assistant) (Verdict, error) {
	return p.check(ctx, store, "destination", dest, assistant, false)
}

// Require is Check for a destination about to be used: a refusal is
// logged with its rule and returned as a destination_not_allowed error
// naming param. attrs are added to the log line (call_id, ...).
func (p *Policy) Require(ctx context.Context, store Store, param string, dest Destination, assistant *Assistant, attrs ...any) (Verdict, error) {
	v, err := p.check(ctx, store, param, dest, assistant, false)
	if err != nil {
		return v, err
	}
	return v, p.enforce(ctx, v, param, dest.Target(), attrs...)
}

// enforce logs a refusal and turns it into an error.
func (p *Policy) enforce(ctx context.Context, v Verdict, param, target string, attrs ...any) error {
	if v.Allowed {
		return nil
	}
	args := append([]any{"rule", v.Rule, "destination", clip(target), "param", param, "reason", v.Reason}, attrs...)
	p.logger.InfoContext(ctx, "transfer destination refused", args...)
	return v.Err(param)
}

// CheckAttempts applies the assistant's max_transfers_per_call to a call
// that has seen attempted transfers already.
func (p *Policy) CheckAttempts(assistant *Assistant, attempted int) Verdict {
	if assistant == nil || assistant.TransferPolicy == nil || assistant.TransferPolicy.MaxTransfersPerCall <= 0 {
		return Verdict{Allowed: true, Rule: RuleMaxTransfers, Reason: "no limit on transfers per call"}
	}
	limit := assistant.TransferPolicy.MaxTransfersPerCall
	if attempted >= limit {
		return Verdict{Rule: RuleMaxTransfers, Reason: fmt.Sprintf("this call has had %d transfer attempts; the assistant's transfer_policy.max_transfers_per_call is %d", attempted, limit)}
	}
	return Verdict{Allowed: true, Rule: RuleMaxTransfers, Reason: fmt.Sprintf("%d of %d transfer attempts used", attempted, limit)}
}

// CheckAssistant checks every configured destination of an assistant
// being created or updated, with its own transfer_policy. Rules that
// default to the deployment's own numbers or trunks are applied once
// there are numbers or trunks to derive them from: an assistant is often
// set up before its number, and every transfer is checked again anyway.
func (p *Policy) CheckAssistant(ctx context.Context, store Store, a *AssistantConfig) error {
	if a.LLMConfig == nil {
		return nil
	}
	assistant := &Assistant{AssistantConfig: *a}
	for i, t := range a.LLMConfig.Tools {
		if t.Type != ToolTransferCall {
			continue
		}
		for j, d := range t.Destinations {
			param := indexed(indexed("llm_config.tools", i)+".destinations", j)
			if d.Type == DestinationSIP {
				param += ".sip_uri"
			} else {
				param += ".number"
			}
			v, err := p.check(ctx, store, param, d, assistant, true)
			if err != nil {
				return err
			}
			if err := p.enforce(ctx, v, param, d.Target(), "assistant", a.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// check is Check; lenient defers the rules derived from the store while
// the store has nothing to derive them from (configuration time).
func (p *Policy) check(ctx context.Context, store Store, param string, dest Destination, a *Assistant, lenient bool) (Verdict, error) {
	var v Verdict
	var err error
	switch dest.Type {
	case DestinationNumber:
		v, err = p.checkNumber(ctx, store, param, dest.Number, a, lenient)
	case DestinationSIP:
		v, err = p.checkSIP(ctx, store, param, dest.SIPURI, a, lenient)
	default:
		return Verdict{}, FieldError(CodeInvalidRequest, param, "destination type %q is not number or sip", clip(dest.Type))
	}
	if err != nil || !v.Allowed {
		return v, err
	}
	if a == nil {
		v.Rule, v.Reason = RuleDeployment, fmt.Sprintf("%s passes the deployment's transfer rules", describeDest(v, dest))
		return v, nil
	}
	if isConfigured(a, dest, v) {
		v.Rule, v.Reason = RuleConfigured, fmt.Sprintf("%s is one of the assistant's transfer destinations and passes the transfer rules", describeDest(v, dest))
		return v, nil
	}
	if !p.adhoc {
		return refused(v, RuleAdhoc, "%s is not one of the assistant's transfer destinations, and ad-hoc transfers are off (VOICEDOCK_ALLOW_ADHOC_TRANSFERS)", dest.Target()), nil
	}
	if tp := a.TransferPolicy; tp != nil && tp.AllowAdhoc != nil && !*tp.AllowAdhoc {
		return refused(v, RuleAdhoc, "%s is not one of the assistant's transfer destinations, and the assistant's transfer_policy.allow_adhoc is false", dest.Target()), nil
	}
	v.Rule, v.Reason = RuleAdhoc, fmt.Sprintf("%s is not one of the assistant's destinations; ad-hoc transfers are allowed (VOICEDOCK_ALLOW_ADHOC_TRANSFERS) and it passes the transfer rules", describeDest(v, dest))
	return v, nil
}

func describeDest(v Verdict, dest Destination) string {
	if v.E164 != "" && dest.Type == DestinationNumber {
		return fmt.Sprintf("%s (%s, %s)", v.E164, numbering.TypeWords(v.NumberType), numbering.RegionName(v.Region, v.Country))
	}
	return dest.Target()
}

// isConfigured reports whether dest is one of the assistant's transfer
// destinations.
func isConfigured(a *Assistant, dest Destination, v Verdict) bool {
	for _, d := range a.TransferDestinations() {
		if d.Type != dest.Type {
			continue
		}
		switch d.Type {
		case DestinationNumber:
			if d.Number == dest.Number || (v.E164 != "" && d.Number == v.E164) {
				return true
			}
		case DestinationSIP:
			if strings.EqualFold(d.SIPURI, dest.SIPURI) || (v.SIPURI != "" && strings.EqualFold(d.SIPURI, v.SIPURI)) {
				return true
			}
		}
	}
	return false
}
