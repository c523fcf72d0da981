// Package media carries a call's audio: one RTP session per answered call
// (G.711 PCMU or PCMA in 20 ms packets, telephone-event DTMF received),
// playback of speech paced in real time, hold audio, and relaying between
// two calls. Engine implements core.Media for the SIP user agent's calls.
// With a Hearing it also listens: voice activity detection splits the
// caller's audio into utterances, handed on with the keys pressed, and the
// caller talking stops the server's speech (barge-in).
//
// Cost per call: an idle call has one goroutine, the one blocked reading
// its socket (an utterance or key being handed on has one more while it
// is). Nothing is sent from a goroutine of the call's own: playback
// runs on the goroutine that asked for it (Say), hold audio on one
// goroutine while it plays, and a bridge relays from the receive
// goroutines. Idle calls are kept alive by one shared goroutine that sends
// each of them a packet of silence every KeepaliveInterval: carriers and
// NATs drop calls whose media stops (RTP timeouts are typically 30-60 s),
// but pacing 50 silent packets a second for every idle call would cost a
// goroutine or a timer each and 500,000 packets a second at 10,000 calls.
package media
