package core

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TransferSettings is how a transfer to one of an assistant's configured
// destinations would be made, as check_destination and test_destination
// show it: what changes the route beyond the policy's verdict.
type TransferSettings struct {
	Mode string `json:"mode" jsonschema:"required,description=blind\\, warm or bridge,enum=blind,enum=warm,enum=bridge"`
	// CallerID is the destination's caller_id and CallerIDNote what the
	// human's phone would show.
	CallerID     string `json:"caller_id" jsonschema:"required,description=The destination's caller_id: number\\, caller or an E.164"`
	CallerIDNote string `json:"caller_id_note" jsonschema:"required,description=What the human's phone shows\\, or why a transfer would be refused (caller_id_not_allowed)"`
	// RingTimeoutSeconds is the ring timeout in force.
	RingTimeoutSeconds int    `json:"ring_timeout_seconds" jsonschema:"required,description=Seconds the destination may ring: the server's call is CANCELed then (warm\\, bridge)\\, or a blind attempt without a final NOTIFY fails"`
	OnFailure          string `json:"on_failure" jsonschema:"required,description=What follows no answer\\, busy or declined,enum=next,enum=back_to_assistant,enum=end_call"`
	OnFailureMessage   string `json:"on_failure_message,omitempty" jsonschema:"description=What the caller hears then (back_to_assistant\\, end_call)"`
	// HoldAudio is what the caller hears while the human is called.
	HoldAudio string `json:"hold_audio,omitempty" jsonschema:"description=What the caller hears while the human is called (warm\\, bridge): ringback or the hold_audio_url"`
}

// transferSettings describes how a transfer to d, one of a's configured
// destinations, would be made; nil when d is not one of them.
func (c *Configuration) transferSettings(ctx context.Context, target, typ string, a *Assistant, transferTimeout time.Duration) (*TransferSettings, error) {
	if a == nil {
		return nil, nil
	}
	var d *Destination
	for _, x := range a.TransferDestinations() {
		if x.Type == typ && strings.EqualFold(x.Target(), target) {
			d = &x
			break
		}
	}
	if d == nil {
		return nil, nil
	}
	p, err := planAttempt("destination", TransferRequest{}, *d, d)
	if err != nil {
		return nil, err
	}
	s := &TransferSettings{Mode: p.mode, CallerID: p.callerID, OnFailure: p.onFailure}
	s.RingTimeoutSeconds, s.HoldAudio = p.ringing(transferTimeout)
	if p.onFailure != OnFailureNext {
		s.OnFailureMessage = p.failureMessage("")
	}
	switch {
	case p.mode == ModeBlind:
		s.CallerIDNote = "blind: the caller's side places the call to the destination and shows what it chooses (normally the caller's own number); caller_id applies to warm and bridge"
	case p.callerID == CallerIDCaller:
		s.CallerIDNote = "the caller's number, in From and P-Asserted-Identity, with a Diversion from our phone number (our number when the caller's is unknown)"
	case strings.HasPrefix(p.callerID, "+"):
		_, err := c.store.FindPhoneNumber(ctx, p.callerID)
		switch {
		case err == nil:
			s.CallerIDNote = p.callerID + ", one of our phone numbers, in From and P-Asserted-Identity"
		case HasCode(err, CodeNotFound):
			s.CallerIDNote = fmt.Sprintf("%s is not one of our phone numbers: a transfer would be refused (caller_id_not_allowed) unless it is the caller's own", p.callerID)
		default:
			return nil, err
		}
	default:
		s.CallerIDNote = "the phone number the call came in on (ours), in From and P-Asserted-Identity"
	}
	return s, nil
}
