package core

import (
	"context"
	"net/netip"
)

// Signaling is what the core asks of the SIP user agent. The sip package
// implements it; core never sees a SIP message.
type Signaling interface {
	// Refer sends a REFER in the call's dialog with exactly one Refer-To
	// (referTo, a SIP URI) and a Referred-By, and returns the final SIP
	// status of the REFER transaction (202 or 200 when accepted). NOTIFYs
	// that arrive for it, before or after this returns, are reported to
	// SignalHandler.TransferProgress.
	Refer(ctx context.Context, callID, referTo string) (status int, err error)
	// Hangup ends the call: BYE when answered, CANCEL or a final error
	// response before. Hanging up a call that is already gone is not an
	// error.
	Hangup(ctx context.Context, callID string) error
	// Dial places an outbound call and returns once it is answered (ACK
	// sent) or has failed; on failure the error is a *Error with the SIP
	// status in SIPStatus. The call's id is d.CallID.
	Dial(ctx context.Context, d OutboundDial) error

	// ReferTo is Refer with what the transferee's INVITE must carry:
	// target.Headers go into the Refer-To URI (RFC 3261 19.1.1 URI
	// headers) and target.Replaces, when set, as its Replaces header (RFC
	// 3891), so the transferee takes over that dialog.
	ReferTo(ctx context.Context, callID string, target ReferTarget) (status int, err error)
	// Dialog returns the SIP dialog of an answered call: what a Replaces
	// header names, and where to send a request that joins it.
	Dialog(callID string) (SIPDialog, error)
	// Options sends an out-of-dialog OPTIONS to the trunk (answering a
	// digest challenge with its credentials) and reports what came back.
	// A trunk that does not answer before ctx ends, or cannot be reached,
	// is a *Error with CodeUnavailable, with the health filled as far as
	// known (CheckedAt, RTTMS).
	Options(ctx context.Context, t Trunk) (TrunkHealth, error)
}

// ReferTarget is where a REFER sends the transferee.
type ReferTarget struct {
	// URI is the Refer-To URI, without URI headers.
	URI string
	// Headers are added to the transferee's INVITE.
	Headers []SIPHeader
	// Replaces names the dialog the transferee's INVITE replaces.
	Replaces *SIPDialog
}

// SIPDialog identifies one of our dialogs: its Call-ID and both tags, and
// the far side's Contact.
type SIPDialog struct {
	CallID    string
	LocalTag  string // our tag
	RemoteTag string // the far side's tag
	// RemoteTarget is the far side's Contact URI.
	RemoteTarget string
	// SupportsReplaces is set when the far side listed "replaces" in the
	// Supported or Require header of its INVITE or answer (RFC 3891 6).
	SupportsReplaces bool
}

// OutboundDial is an outbound call to place through a trunk.
type OutboundDial struct {
	CallID string
	// To is the Request-URI (sip:+31612345678@trunk-host:5060;transport=udp).
	To string
	// From is the caller id presented: our number, or on a transfer's own
	// call the caller's (caller_id). It is asserted too (P-Asserted-Identity,
	// RFC 3325), for trunks that take the identity from there.
	From string
	// DivertedFrom, when set, is our number the call is forwarded from
	// while From is the caller's (a Diversion header, RFC 5806): the
	// trunk sees whose account the call is on, which many require to let
	// a number that is not ours through.
	DivertedFrom string
	Trunk        Trunk
	SIPCallID    string
	// Headers are added to the INVITE (sip_headers, X-Transfer-Summary).
	Headers []SIPHeader
}

// InboundInvite is what the SIP user agent knows of a new inbound call.
type InboundInvite struct {
	// SIPCallID is the dialog's Call-ID header.
	SIPCallID string
	// Called is the Request-URI user (or the To user): the number dialled.
	Called string
	// Caller is the From user.
	Caller string
	// Source is the address the INVITE came from.
	Source netip.AddrPort
	// Authorization is the INVITE's Authorization header when it answers
	// a challenge of ours that is still fresh; "" otherwise.
	Authorization string
	// VerifyDigest, set with Authorization, reports whether the header's
	// digest response was made with these credentials.
	VerifyDigest func(username, password string) bool
}

// OfferDecision is the core's answer to an inbound INVITE.
type OfferDecision struct {
	// CallID is set when the call is accepted.
	CallID string
	// RejectStatus is the SIP status to reject with (403, 404, 480, 503...)
	// when CallID is empty; RejectReason its reason phrase.
	RejectStatus int
	RejectReason string
	// Challenge asks the SIP layer to answer 401 with a fresh digest
	// challenge (RejectStatus is 401 then): the called number's trunk
	// authenticates its calls by digest and the INVITE carried none.
	Challenge bool
	// KeepState is false when the call was refused before any record was
	// made (an unknown source): the SIP layer keeps nothing either.
	KeepState bool
}

// ReferProgress is one report on a transfer from the far side: a NOTIFY's
// sipfrag status line.
type ReferProgress struct {
	Status int
	Reason string
}

// SignalHandler receives the SIP user agent's reports. The core
// implements it (Calls); the SIP layer calls it from its own goroutines.
type SignalHandler interface {
	// OfferCall decides on an inbound INVITE before anything is answered.
	OfferCall(ctx context.Context, inv InboundInvite) OfferDecision
	// CallAnswered reports that an inbound call was answered (200 OK sent
	// and ACKed) or an outbound one was answered by the far side.
	CallAnswered(ctx context.Context, callID string)
	// CallEnded reports that the call is gone: the far side's BYE or
	// CANCEL, a transaction failure, or our own Hangup completing.
	CallEnded(ctx context.Context, callID, reason string)
	// TransferProgress reports NOTIFYs' sipfrags for the call's REFER, in
	// the order they came: the NOTIFYs that arrived while the ones before
	// were being reported come together, so that their steps can share a
	// write.
	TransferProgress(ctx context.Context, callID string, p ...ReferProgress)
}
