package media

import "net/netip"

// probation is how many packets in sequence, from one source and one SSRC,
// teach a session that its far side's media comes from somewhere other
// than its SDP says (behind NAT). Asterisk's strict RTP learns after 4 too;
// RFC 3550's probation (A.1) is 2, which two stray packets can pass.
const probation = 4

// rtpSource decides which packets are the far side's media. A packet from
// the SDP's address always is, and the session answers there. A packet
// from elsewhere is media only once that source has sent probation packets
// in sequence, and only while the SDP's address has sent nothing; from then
// on the session answers to it (symmetric RTP, RFC 4961). Everything else
// is dropped: without this, the first packet from anywhere (a previous call's
// far side still sending to a reused port, a scan) took the stream and
// every later one was heard as the caller's voice.
type rtpSource struct {
	sdp     netip.AddrPort // where the negotiation says media comes from
	learned netip.AddrPort // where it does come from instead, once learned
	sdpSent bool           // the SDP's address sent: nothing else is learned

	candidate netip.AddrPort // the source on probation
	ssrc      uint32
	seq       uint16
	inSeq     int // packets in sequence from candidate
}

// reset starts again for a new negotiated address.
func (r *rtpSource) reset(sdp netip.AddrPort) { *r = rtpSource{sdp: sdp} }

// accept reports whether a packet from from is the far side's media, and
// where to send from now on when that changed (the zero value otherwise).
func (r *rtpSource) accept(from netip.AddrPort, ssrc uint32, seq uint16) (media bool, sendTo netip.AddrPort) {
	switch {
	case from == r.sdp:
		r.sdpSent = true
		if r.learned.IsValid() {
			r.learned = netip.AddrPort{}
			return true, from // the SDP's address outranks a learned one
		}
		return true, netip.AddrPort{}
	case r.learned.IsValid():
		return from == r.learned, netip.AddrPort{}
	case r.sdpSent:
		return false, netip.AddrPort{}
	}
	if from == r.candidate && ssrc == r.ssrc && seq == r.seq+1 {
		r.inSeq++
	} else {
		r.candidate, r.ssrc, r.inSeq = from, ssrc, 1
	}
	r.seq = seq
	if r.inSeq < probation {
		return false, netip.AddrPort{}
	}
	r.learned = from
	return true, from
}
