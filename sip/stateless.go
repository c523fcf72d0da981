package sip

import (
	"bytes"
	"encoding/hex"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// Under overload the server refuses new calls by the hundred a second. A
// 503 sent through sipgo's server transaction keeps the INVITE, the
// response, a goroutine and three timers until the ACK plus Timer I (5 s
// over UDP), and the ACK makes a transaction of its own: at twice the
// best rate that was most of the heap. So over UDP an INVITE the server
// has no room for is refused statelessly, as RFC 3261 lets a UAS do
// (§8.2.7) and proxies do under load: from the transport's read hook,
// before sipgo parses the datagram for itself or makes a transaction of
// it. The 503's To tag is derived from the request (its Call-ID, From
// tag, top Via branch and CSeq number), so a retransmitted INVITE gets the
// very same 503 again, and the ACK of the 503, which carries that tag
// with the same Call-ID, From tag, branch and CSeq number (§17.1.1.3), is
// recognised and dropped without anything having been remembered.
//
// Only UDP: a TCP or TLS read is part of a stream, not a message, and on
// a reliable transport Timers I and J are zero, so the transaction of a
// stateful 503 ends as soon as its ACK comes.
//
// A caller whose INVITE was refused here and whose retransmission arrives
// once new calls are admitted again is answered: a stateless UAS cannot
// tell the retransmission from the first INVITE. Such a caller never saw
// the 503 (it retransmits only without a response), so answering it is
// what it asked for.

// statelessTagPrefix starts the To tag of every stateless 503. sipgo's
// tags are UUIDs, so a tag with this prefix is ours; the hash after it
// tells whether it was made for the request that carries it.
const statelessTagPrefix = "sl503-"

// stateless is what refusing without state needs: no per-request memory,
// only a seed for the tags, a parser and counters.
type stateless struct {
	seed   maphash.Seed
	parser *sip.Parser
	bufs   sync.Pool // *bytes.Buffer, for the responses' bytes
	// refused counts the 503s sent statelessly (a retransmitted INVITE
	// counts again); acks the ACKs of them dropped.
	refused atomic.Uint64
	acks    atomic.Uint64
}

func newStateless() *stateless {
	return &stateless{seed: maphash.MakeSeed(), parser: sip.NewParser()}
}

// Prefixes of the datagrams the hook looks at; every other one passes
// untouched and unparsed.
var (
	invitePrefix = []byte("INVITE ")
	ackPrefix    = []byte("ACK ")
	tagMarker    = []byte(statelessTagPrefix)
)

// readFilter is sipgo's TransportReadFilter: the inbound filter first
// (floods, scanners, truncated datagrams), then the stateless refusal of
// the INVITEs the server has no room for.
func (u *UA) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	data, err := u.filter.read(p, data)
	if err != nil || len(data) == 0 || p.Transport != tpUDP {
		return data, err
	}
	switch {
	case bytes.HasPrefix(data, invitePrefix):
		if u.refuseStatelessly(p, data) {
			return nil, nil
		}
	case bytes.HasPrefix(data, ackPrefix) && bytes.Contains(data, tagMarker):
		if u.absorbAck(data) {
			return nil, nil
		}
	}
	return data, nil
}

// refuseStatelessly answers a new INVITE 503 with Retry-After when the
// server has no room for it (at MaxCalls, or while the core refuses new
// calls) and reports whether it did. The datagram is parsed (with sipgo's
// parser) only once the server is known to refuse: an INVITE that is
// admitted costs one admission check here and nothing else. An INVITE
// with a To tag is in a dialog (a re-INVITE of an answered call) and
// always passes.
func (u *UA) refuseStatelessly(p sip.TransportReadProps, data []byte) bool {
	if u.closing.Load() {
		return false // Shutdown's own 503s are answered the stateful way
	}
	why, atMax := u.busyReason()
	if why == "" {
		return false
	}
	st := u.net.Load()
	if st == nil || st.udpConn == nil || st.dialogs[tpUDP] == nil || p.RemoteAddr == nil ||
		p.LocalAddr == nil || p.LocalAddr.String() != st.udpConn.LocalAddr().String() {
		return false
	}
	msg, err := u.sl.parser.ParseSIP(data)
	if err != nil {
		return false // sipgo parses it again, logs and counts it
	}
	req, ok := msg.(*sip.Request)
	if !ok || !req.IsInvite() || req.SipVersion != "SIP/2.0" {
		return false
	}
	to, from, callID, cseq, via := req.To(), req.From(), req.CallID(), req.CSeq(), req.Via()
	if to == nil || from == nil || callID == nil || cseq == nil || via == nil {
		return false // the stateful path answers 400
	}
	// Only a request a peer could match the 503 to is answered here; what
	// is odd beyond that goes the stateful way, as before.
	if cseq.MethodName != sip.INVITE || !strings.EqualFold(via.Transport, tpUDP) || via.Host == "" {
		return false
	}
	if to.Params.Has("tag") {
		return false
	}
	// sipgo's parser takes some addresses that it writes back in a form it
	// refuses ("T: :0:A" is written <sip:0:A>, a port that is not a
	// number; "T:A:>" is written <a:>>). The 503 echoes To and From, so
	// such a request goes the stateful way rather than getting an answer
	// no peer can parse. Found by FuzzStatelessRefusal.
	if !reparses(to.Value()) || !reparses(from.Value()) {
		return false
	}
	req.SetTransport(tpUDP)
	req.SetSource(p.RemoteAddr.String())
	u.observe(true, req)
	// The tag is set on the request, so that NewResponseFromRequest
	// copies it rather than drawing a random one.
	to.Params.Add("tag", u.sl.tag(req))
	res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(u.busyRetryAfter())))
	u.decorate(res)
	u.busy.Add(1)
	u.sl.refused.Add(1)
	if atMax {
		u.log.Info("inbound call refused: at the maximum of calls", "max_calls", u.cfg.MaxCalls, "source", req.Source())
	} else {
		u.log.Debug("inbound call refused", "why", why, "source", req.Source())
	}
	// The 503 goes to the datagram's source, as sipgo's transactions
	// answer (RFC 3581), from the listener's socket. sipgo's stateless
	// write (Server.WriteResponse) looks the socket up in its pool by the
	// destination, which it adds there only after the read hook let a
	// datagram from it through: for a source seen first here it finds
	// none and sends nothing.
	buf, _ := u.sl.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	res.StringWrite(buf)
	if _, err := st.udpConn.WriteTo(buf.Bytes(), p.RemoteAddr); err != nil {
		u.log.Debug("send stateless 503", "err", err)
	}
	u.sl.bufs.Put(buf)
	return true
}

// reparses reports whether an address header's value, as sipgo writes
// it, parses again.
func reparses(value string) bool {
	var uri sip.Uri
	var params sip.HeaderParams
	_, err := sip.ParseAddressValue(value, &uri, &params)
	return err == nil
}

// busyReason is why a new INVITE is refused now ("" when it may be
// offered) and whether that is MaxCalls. It reserves nothing: an INVITE
// let through is admitted again by onInvite, which takes its room. It is
// asked before the datagram is parsed, so a re-INVITE arriving while new
// calls are refused counts as one more refusal in the core's admission
// log, though it passes.
func (u *UA) busyReason() (why string, atMax bool) {
	if !u.coreAdmits() {
		return "behind on transfers", false
	}
	if u.cfg.MaxCalls > 0 {
		u.admitMu.Lock()
		full := u.calls.count()+u.deciding >= u.cfg.MaxCalls
		u.admitMu.Unlock()
		if full {
			return "at the maximum of calls", true
		}
	}
	return "", false
}

// absorbAck drops the ACK of a stateless 503 and reports whether the
// datagram was one; any other ACK goes on to sipgo.
func (u *UA) absorbAck(data []byte) bool {
	msg, err := u.sl.parser.ParseSIP(data)
	if err != nil {
		return false
	}
	req, ok := msg.(*sip.Request)
	if !ok || !req.IsAck() || req.To() == nil || req.From() == nil || req.CallID() == nil || req.CSeq() == nil || req.Via() == nil {
		return false
	}
	tag, _ := req.To().Params.Get("tag")
	if tag != u.sl.tag(req) {
		return false
	}
	u.observe(true, req)
	u.sl.acks.Add(1)
	return true
}

// tag is the To tag of the stateless 503 to req (an INVITE, or the ACK of
// its 503): a keyed hash of what stays the same across the INVITE's
// retransmissions and its ACK.
func (s *stateless) tag(req *sip.Request) string {
	var h maphash.Hash
	h.SetSeed(s.seed)
	from, _ := req.From().Params.Get("tag")
	branch, _ := req.Via().Params.Get("branch")
	for _, part := range []string{req.CallID().Value(), from, branch} {
		h.WriteString(part)
		h.WriteByte(0)
	}
	h.WriteString(strconv.FormatUint(uint64(req.CSeq().SeqNo), 10))
	var sum [8]byte
	n := h.Sum64()
	for i := range sum {
		sum[i] = byte(n >> (8 * i))
	}
	return statelessTagPrefix + hex.EncodeToString(sum[:])
}
