package core

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Transfer modes.
const (
	// ModeBlind sends a REFER and leaves the caller's side to call the
	// destination.
	ModeBlind = "blind"
	// ModeWarm calls the destination first (the caller on hold), tells the
	// human who is coming, then joins the two with a REFER carrying
	// Replaces (RFC 3891); bridging when the caller's side refuses it.
	ModeWarm = "warm"
	// ModeBridge calls the destination and relays the audio between the
	// two calls until either hangs up: for trunks that do not allow REFER.
	ModeBridge = "bridge"
)

// Caller ids of the server's own call to a destination (warm, bridge).
const (
	// CallerIDNumber presents our phone number, which the trunk owns.
	CallerIDNumber = "number"
	// CallerIDCaller presents the caller's number.
	CallerIDCaller = "caller"
)

// Limits of a transfer's extras.
const (
	maxFallbacks       = 5
	maxSIPHeaders      = 10
	maxSIPHeaderName   = 64
	maxSIPHeaderValue  = 256
	maxUUIValue        = 512 // User-to-User carries hex-encoded data: 128 bytes and its parameters
	maxSIPHeadersBytes = 1024
	maxSummary         = 500
	// DefaultDialTimeout bounds the ringing of a warm or bridge transfer.
	DefaultDialTimeout = 30 * time.Second
	minDialTimeout     = 5
	maxDialTimeout     = 120
)

// SummaryHeader carries a transfer's summary to the destination.
const SummaryHeader = "X-Transfer-Summary"

// DefaultFallbackMessage is said to a caller whose warm or bridge transfer
// found nobody, before the assistant carries on.
const DefaultFallbackMessage = "Sorry, nobody could take your call right now."

// SIPHeader is one header a transfer sends to its destination.
type SIPHeader struct {
	Name  string
	Value string
}

// checkMode checks a transfer mode; "" is allowed (the default).
func checkMode(param, mode string) error {
	switch mode {
	case "", ModeBlind, ModeWarm, ModeBridge:
		return nil
	}
	return FieldError(CodeInvalidRequest, param, "mode %q is not blind, warm or bridge", clip(mode))
}

// sipHeaderNameOK reports whether name is one a transfer may send: an
// extension header (X- and letters, digits or dashes) or User-to-User
// (RFC 7433). Anything else could change how the far side handles the
// call (Route, Contact, Authorization...), so it is refused.
func sipHeaderNameOK(name string) bool {
	if strings.EqualFold(name, "User-to-User") {
		return true
	}
	if len(name) < 3 || len(name) > maxSIPHeaderName || !strings.EqualFold(name[:2], "x-") {
		return false
	}
	for i := 2; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// sipHeaderValueOK refuses control characters: a CR or LF would end the
// header and start one of the sender's choosing.
func sipHeaderValueOK(v string) bool {
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ValidateSIPHeaders checks a destination's sip_headers and returns them
// sorted by name (so the message is the same every time).
func ValidateSIPHeaders(param string, h map[string]string) ([]SIPHeader, error) {
	if len(h) == 0 {
		return nil, nil
	}
	if len(h) > maxSIPHeaders {
		return nil, FieldError(CodeInvalidRequest, param, "at most %d SIP headers (got %d)", maxSIPHeaders, len(h))
	}
	out := make([]SIPHeader, 0, len(h))
	seen := map[string]bool{}
	total := 0
	for name, value := range h {
		p := param + "." + clip(name)
		if !sipHeaderNameOK(name) {
			return nil, FieldError(CodeInvalidRequest, p, "SIP header %q is not allowed: only X-... headers (letters, digits, dashes; at most %d characters) and User-to-User", clip(name), maxSIPHeaderName)
		}
		if strings.EqualFold(name, SummaryHeader) {
			return nil, FieldError(CodeInvalidRequest, p, "%s is set from the transfer's summary", SummaryHeader)
		}
		if seen[strings.ToLower(name)] {
			return nil, FieldError(CodeInvalidRequest, p, "SIP header %q is given twice", clip(name))
		}
		seen[strings.ToLower(name)] = true
		limit := maxSIPHeaderValue
		if strings.EqualFold(name, "User-to-User") {
			limit = maxUUIValue
		}
		if value == "" || len(value) > limit {
			return nil, FieldError(CodeInvalidRequest, p, "SIP header value must be 1 to %d bytes (got %d)", limit, len(value))
		}
		if !sipHeaderValueOK(value) {
			return nil, FieldError(CodeInvalidRequest, p, "SIP header value must not contain line breaks or other control characters")
		}
		total += len(name) + len(value)
		out = append(out, SIPHeader{Name: name, Value: value})
	}
	if total > maxSIPHeadersBytes {
		return nil, FieldError(CodeInvalidRequest, param, "SIP headers are %d bytes in all; at most %d", total, maxSIPHeadersBytes)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

// mergeHeaders returns base with over's headers replacing those of the
// same name (any case) and added after.
func mergeHeaders(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		for b := range out {
			if strings.EqualFold(b, k) {
				delete(out, b)
			}
		}
		out[k] = v
	}
	return out
}

// summaryValue makes a summary fit a header: line breaks and other
// control characters become spaces.
func summaryValue(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }), " ")
}

// validateDestinationExtras checks what a destination adds for its mode.
func validateDestinationExtras(param string, d Destination) error {
	if err := checkMode(param+".mode", d.Mode); err != nil {
		return err
	}
	if err := checkRouting(param+".", d.TransferRouting); err != nil {
		return err
	}
	if _, err := ValidateSIPHeaders(param+".sip_headers", d.SIPHeaders); err != nil {
		return err
	}
	if err := checkVoicemailAction(param+".voicemail_action", d.VoicemailAction); err != nil {
		return err
	}
	if err := checkVoicemailMode(param+".voicemail_action", d.Mode, d.VoicemailAction); err != nil {
		return err
	}
	f := d.consultFields()
	if err := f.check(param + "."); err != nil {
		return err
	}
	return f.checkForMode(param+".", d.Mode)
}

// attemptPlan is how one destination of a transfer is tried.
type attemptPlan struct {
	dest    Destination
	message string
	// audioURL is the destination's recording (message_audio_url), played
	// instead of message when the request brings no message of its own.
	audioURL string
	mode     string
	callerID string // caller_id choice: number, caller or an E.164 of ours
	headers  []SIPHeader
	// holdAudioURL is looped to the caller while the human is called;
	// "" for a ringback tone.
	holdAudioURL string
	// ringSeconds is the ring timeout set by the request or the
	// destination, 0 for the mode's default (ringTimeout).
	ringSeconds      int
	onFailure        string
	onFailureMessage string
	// voicemailAction is what a machine answering the server's own call
	// gets: VoicemailNone, VoicemailStop or VoicemailLeaveMessage.
	voicemailAction string
	// uri is the Refer-To or the Request-URI of the server's own call;
	// trunk carries that call (zero for a SIP URI destination).
	uri   string
	trunk Trunk
	// consult is what is done on the human's call before the caller is
	// put through (warm, bridge).
	consult consultPlan
}

// planAttempt combines the request's options with the destination's
// configured ones (the request's win) and checks the result.
func planAttempt(param string, req TransferRequest, dest Destination, configured *Destination) (attemptPlan, error) {
	p := attemptPlan{dest: dest, message: req.Message, mode: req.Mode, voicemailAction: req.VoicemailAction}
	routing := req.Routing
	headers := req.SIPHeaders
	if configured != nil {
		if p.message == "" {
			p.message = configured.Message
			p.audioURL = configured.MessageAudioURL
		}
		if p.mode == "" {
			p.mode = configured.Mode
		}
		if p.voicemailAction == "" {
			p.voicemailAction = configured.VoicemailAction
		}
		routing = configured.TransferRouting.over(req.Routing)
		headers = mergeHeaders(configured.SIPHeaders, req.SIPHeaders)
	}
	if p.mode == "" {
		p.mode = ModeBlind
	}
	p.callerID = routing.CallerID
	if p.callerID == "" {
		p.callerID = CallerIDNumber
	}
	if err := checkVoicemailMode("voicemail_action", p.mode, p.voicemailAction); err != nil {
		return p, err
	}
	if p.voicemailAction == "" {
		p.voicemailAction = VoicemailNone
	}
	p.holdAudioURL = routing.HoldAudioURL
	p.ringSeconds = routing.ringSeconds()
	p.onFailure, p.onFailureMessage = routing.OnFailure, routing.OnFailureMessage
	if p.onFailure == "" {
		p.onFailure = OnFailureNext
	}
	hs, err := ValidateSIPHeaders(param+".sip_headers", headers)
	if err != nil {
		return p, err
	}
	if p.consult, err = planConsult(req, configured, p.mode); err != nil {
		if e := AsError(err); e != nil {
			e.Message += fmt.Sprintf(" (%s %s is blind)", param, clip(dest.Target()))
		}
		return p, err
	}
	p.consult.voicemail = p.voicemailAction
	if s := summaryValue(req.Summary); s != "" {
		hs = append(hs, SIPHeader{Name: SummaryHeader, Value: s})
	}
	p.headers = hs
	return p, nil
}

// checkTransferRequest checks the request's own options.
func checkTransferRequest(req TransferRequest) error {
	if err := maxLen("message", req.Message, 1000); err != nil {
		return err
	}
	if err := maxLen("fallback_message", req.FallbackMessage, 1000); err != nil {
		return err
	}
	if err := maxLen("summary", req.Summary, maxSummary); err != nil {
		return err
	}
	if err := checkMode("mode", req.Mode); err != nil {
		return err
	}
	if err := checkRouting("", req.Routing); err != nil {
		return err
	}
	if err := checkVoicemailAction("voicemail_action", req.VoicemailAction); err != nil {
		return err
	}
	if req.Mode != "" {
		// Refused before the call is looked at; an unset mode is
		// checked per destination, against each one's own.
		if err := checkVoicemailMode("voicemail_action", req.Mode, req.VoicemailAction); err != nil {
			return err
		}
	}
	if len(req.FallbackDestinations) > maxFallbacks {
		return FieldError(CodeInvalidRequest, "fallback_destinations", "at most %d fallback destinations (got %d)", maxFallbacks, len(req.FallbackDestinations))
	}
	if _, err := ValidateSIPHeaders("sip_headers", req.SIPHeaders); err != nil {
		return err
	}
	f := req.consultFields()
	if err := f.check(""); err != nil {
		return err
	}
	if req.Mode != "" {
		return f.checkForMode("", req.Mode)
	}
	return nil
}

// parseTargets reads the destination and its fallbacks, in order; the same
// target twice is refused (it would only ring the same phone again).
func parseTargets(numbers *numberCache, req TransferRequest) ([]Destination, error) {
	first, err := parseTarget(numbers, "destination", req.Destination)
	if err != nil {
		return nil, err
	}
	out := []Destination{first}
	for i, s := range req.FallbackDestinations {
		d, err := parseTarget(numbers, indexed("fallback_destinations", i), s)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.Type == d.Type && strings.EqualFold(o.Target(), d.Target()) {
				return nil, FieldError(CodeInvalidRequest, indexed("fallback_destinations", i), "%s is already a destination of this transfer", clip(d.Target()))
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func describeAttempts(as []TransferAttempt) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, fmt.Sprintf("%s: %s", a.Destination, a.Reason))
	}
	return strings.Join(parts, "; ")
}
