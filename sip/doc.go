// Package sip is VoiceDock's SIP user agent, built on sipgo. It implements
// core.Signaling and reports to a core.SignalHandler:
//
//   - inbound calls: an INVITE is offered to the core (OfferCall); refused
//     calls get the core's status and leave no state, accepted ones ring
//     (180) and are answered (200 OK with an SDP answer: PCMU or PCMA as the
//     offer orders them, telephone-event when offered, an RTP port reserved
//     from a configured range). The ACK reports CallAnswered.
//   - in a call: CANCEL, BYE, hold and resume re-INVITEs, OPTIONS, and the
//     NOTIFYs (message/sipfrag) that follow a REFER, which are answered
//     first and then reported as TransferProgress in arrival order (over
//     UDP their transactions end once answered, notify_tx.go).
//   - commands from the core: Refer (REFER in the call's dialog, returning
//     the REFER's final status), Hangup (BYE, or a final error response
//     before the answer) and Dial (an outbound INVITE through a trunk, with
//     digest authentication).
//   - strangers: before sipgo parses anything, an inbound filter (filter.go)
//     drops, unanswered, what a source sends over its rate limit, requests
//     from known scanners' User-Agents and truncated UDP datagrams, and caps
//     the TCP connections per address; requests missing mandatory headers
//     get 400, INVITEs beyond MaxCalls, or while the core refuses new calls
//     (core.CallAdmitter, admission.go), 503 with Retry-After: over UDP
//     statelessly, from the read hook, before sipgo makes a transaction
//     (stateless.go). Stats counts all of it.
//
// Every call is reported ended exactly once (CallEnded). A call's state
// changes under its own lock; the call maps are guarded by one RWMutex; an
// idle call costs no goroutine of this package, only sockets and timers.
// Ended dialogs are remembered for a short while so that a late NOTIFY or
// BYE is answered 200 rather than 481.
//
// Media is not implemented yet: the RTP port is reserved (bound) for the
// call's lifetime and nothing is sent, which the far side hears as silence.
package sip
