package sip

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FuzzStatelessRefusal feeds datagrams to the read hook while the core
// refuses new calls. Nothing may panic or fail the read; an INVITE the
// hook takes must have been answered with a 503 that sipgo parses, with
// Retry-After, a To tag of ours and the request's Call-ID and CSeq; and
// the ACK of that 503 must be taken by the hook too.
func FuzzStatelessRefusal(f *testing.F) {
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = peer.Close() })
	src := peer.LocalAddr().String()
	const dst = "127.0.0.1:5060"
	for _, seed := range []string{
		rawRequest("INVITE", dst, src, "seed-new"),
		rawRequest("INVITE", dst, src, "seed-sdp", "Content-Type: application/sdp"),
		strings.Replace(rawRequest("INVITE", dst, src, "seed-reinvite"), "To: <sip:100@"+dst+">", "To: <sip:100@"+dst+">;tag=abc", 1),
		strings.Replace(rawRequest("ACK", dst, src, "seed-ack"), "To: <sip:100@"+dst+">", "To: <sip:100@"+dst+">;tag="+statelessTagPrefix+"0011223344556677", 1),
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\nTo: <sip:1@127.0.0.1>\r\n\r\n",
		"ACK sip:1@127.0.0.1 SIP/2.0\r\nTo: <sip:1@x>;tag=" + statelessTagPrefix + "\r\n\r\n",
		"INVITE \x00\xff",
	} {
		f.Add([]byte(seed))
	}
	g := &gatedHandler{recorder: newRecorder()} // refuses every new call
	ua, _ := serveUA(f, g, func(c *Config) { c.RateLimit = -1 })
	local := ua.net.Load().udpConn.LocalAddr()
	props := sip.TransportReadProps{Transport: tpUDP, LocalAddr: local, RemoteAddr: peer.LocalAddr()}
	parser := sip.NewParser()
	buf := make([]byte, 65536)

	f.Fuzz(func(t *testing.T, data []byte) {
		refused := ua.sl.refused.Load()
		out, err := ua.readFilter(props, data)
		if err != nil {
			t.Fatalf("read hook failed on %q: %v", data, err)
		}
		if len(out) != 0 || ua.sl.refused.Load() == refused {
			return // passed on to sipgo, or taken as an ACK
		}
		msg, err := parser.ParseSIP(data)
		if err != nil {
			t.Fatalf("refused an INVITE sipgo cannot parse: %q: %v", data, err)
		}
		req := msg.(*sip.Request)
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := peer.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no 503 for %q: %v", data, err)
		}
		msg, err = parser.ParseSIP(buf[:n])
		if err != nil {
			t.Fatalf("the 503 to %q does not parse: %v\n%s", data, err, buf[:n])
		}
		res, ok := msg.(*sip.Response)
		if !ok || res.StatusCode != sip.StatusServiceUnavailable || res.GetHeader("Retry-After") == nil {
			t.Fatalf("answered %q with\n%s", data, buf[:n])
		}
		tag, _ := res.To().Params.Get("tag")
		if !strings.HasPrefix(tag, statelessTagPrefix) || res.CallID().Value() != req.CallID().Value() || res.CSeq().SeqNo != req.CSeq().SeqNo {
			t.Fatalf("the 503 to %q does not match it:\n%s", data, buf[:n])
		}

		// The ACK of the 503, as RFC 3261 17.1.1.3 builds it.
		ack := sip.NewRequest(sip.ACK, req.Recipient)
		ack.AppendHeader(req.Via().Clone())
		ack.AppendHeader(sip.HeaderClone(req.From()))
		ack.AppendHeader(sip.HeaderClone(res.To()))
		ack.AppendHeader(sip.HeaderClone(req.CallID()))
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
		ack.SetBody(nil)
		raw := []byte(ack.String())
		again, err := parser.ParseSIP(raw)
		if err != nil {
			return
		}
		// Only when sipgo writes the fields the tag is made of back as it
		// read them is the ACK the one a peer would send.
		a := again.(*sip.Request)
		if a.Via() == nil || a.From() == nil || a.CallID() == nil || a.To() == nil || a.CSeq() == nil ||
			ua.sl.tag(a) != ua.sl.tag(req) {
			return
		}
		acks := ua.sl.acks.Load()
		if out, err := ua.readFilter(props, raw); err != nil || len(out) != 0 || ua.sl.acks.Load() != acks+1 {
			t.Fatalf("the ACK of the 503 to %q was not taken (%v):\n%s", data, err, bytes.TrimSpace(raw))
		}
	})
}
