package core

import "context"

// SetPolicy gives the configuration the deployment's transfer policy, which
// every assistant's destinations must pass when it is created or updated.
// Without one, the baseline applies: emergency numbers and the default
// denied types are refused.
func (c *Configuration) SetPolicy(p *Policy) { c.policy = p }

func (c *Configuration) transferPolicy() *Policy {
	if c.policy != nil {
		return c.policy
	}
	return baselinePolicy(false, c.logger)
}

// checkDestinations applies the transfer policy to an assistant's
// configured destinations.
func (c *Configuration) checkDestinations(ctx context.Context, a *AssistantConfig) error {
	return c.transferPolicy().CheckAssistant(ctx, c.store, a)
}

// DestinationCheck is what check_destination answers: the verdict, the
// destination in canonical form, and the route a transfer would take.
type DestinationCheck struct {
	Verdict
	Destination string
	Type        string
	AssistantID string
	// Route is the Refer-To URI a transfer would carry, when it can be
	// told without a call; RouteNote explains it.
	Route     string
	RouteNote string
	// Transfer is how a transfer to one of the assistant's configured
	// destinations would be made; nil for any other.
	Transfer *TransferSettings
	// Consult is what the assistant's destination does on the human's
	// call (warm, bridge) before the caller is put through; nil when
	// nothing beyond the plain mode.
	Consult *ConsultSteps
}

// CheckDestination answers whether a transfer to destination (an E.164
// number or a SIP URI) would be allowed, for a call answered by the given
// assistant ("" for the deployment's rules only), and which route it would
// take. Nothing is dialled.
func (c *Configuration) CheckDestination(ctx context.Context, destination, assistantID string) (DestinationCheck, error) {
	dest, err := ParseTarget("destination", destination)
	if err != nil {
		return DestinationCheck{}, err
	}
	var a *Assistant
	if assistantID != "" {
		got, err := c.store.GetAssistant(ctx, assistantID)
		if HasCode(err, CodeNotFound) {
			return DestinationCheck{}, FieldError(CodeNotFound, "assistant_id", "assistant %q not found", clip(assistantID))
		}
		if err != nil {
			return DestinationCheck{}, err
		}
		a = &got
	}
	v, err := c.transferPolicy().Check(ctx, c.store, dest, a)
	if err != nil {
		return DestinationCheck{}, err
	}
	out := DestinationCheck{Verdict: v, Destination: dest.Target(), Type: dest.Type, AssistantID: assistantID}
	if v.SIPURI != "" {
		out.Destination = v.SIPURI
	} else if v.E164 != "" {
		out.Destination = v.E164
	}
	out.Route, out.RouteNote, err = c.routeFor(ctx, out.Destination, dest.Type, a)
	out.Consult = consultSteps(a, dest)
	if err != nil {
		return out, err
	}
	out.Transfer, err = c.transferSettings(ctx, out.Destination, dest.Type, a, c.transferTimeout)
	return out, err
}
