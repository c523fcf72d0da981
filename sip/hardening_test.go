package sip

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// rawRequest is a SIP request as a scanner or a broken peer would write
// it, from src (ip:port) to the UA at dst; extra headers go before
// Content-Length.
func rawRequest(method, dst, src, callID string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:100@%s SIP/2.0\r\n", method, dst)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\n", src, callID)
	fmt.Fprintf(&b, "From: <sip:+15550100009@%s>;tag=t-%s\r\n", src, callID)
	fmt.Fprintf(&b, "To: <sip:100@%s>\r\n", dst)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	fmt.Fprintf(&b, "CSeq: 1 %s\r\n", method)
	fmt.Fprintf(&b, "Contact: <sip:caller@%s>\r\n", src)
	b.WriteString("Max-Forwards: 70\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// udpPeer is a raw UDP socket on a loopback address that records the
// responses it gets: status code by Call-ID.
type udpPeer struct {
	conn *net.UDPConn
	to   *net.UDPAddr

	mu        sync.Mutex
	responses []peerResponse
	got       chan struct{} // a response arrived (capacity 1)
}

type peerResponse struct {
	status int
	callID string
	raw    string
}

func newUDPPeer(t *testing.T, ip, to string) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	p := &udpPeer{conn: conn, to: dst, got: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			r := peerResponse{raw: string(buf[:n])}
			fmt.Sscanf(r.raw, "SIP/2.0 %d", &r.status)
			for _, line := range strings.Split(r.raw, "\r\n") {
				if v, ok := strings.CutPrefix(line, "Call-ID: "); ok {
					r.callID = v
				}
			}
			p.mu.Lock()
			p.responses = append(p.responses, r)
			p.mu.Unlock()
			select {
			case p.got <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return p
}

func (p *udpPeer) addr() string { return p.conn.LocalAddr().String() }

func (p *udpPeer) send(t *testing.T, msg string) {
	t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(msg), p.to); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// await waits for a response with status to the request callID, and
// returns every response received until then. It retransmits req every
// T1 (500 ms), as a UAC does over UDP, until the response comes: the
// kernel drops a datagram that finds the UA's socket buffer full.
func (p *udpPeer) await(t *testing.T, callID string, status int, req string) []peerResponse {
	t.Helper()
	deadline := time.After(eventWait)
	resend := time.NewTicker(sip.T1)
	defer resend.Stop()
	for {
		p.mu.Lock()
		got := append([]peerResponse(nil), p.responses...)
		p.mu.Unlock()
		for _, r := range got {
			if r.callID == callID && r.status == status {
				return got
			}
		}
		select {
		case <-p.got:
		case <-resend.C:
			p.send(t, req)
		case <-deadline:
			t.Fatalf("no %d to %s within %s; got %v", status, callID, eventWait, got)
		}
	}
}

func (p *udpPeer) count(status int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.responses {
		if r.status == status {
			n++
		}
	}
	return n
}

// refuseFrom makes the recorder refuse (403, nothing kept, as the core
// does for an unknown source) the INVITEs from ip and accept the others;
// it counts the refused ones.
func refuseFrom(rec *recorder, ip string, refused *atomic.Int64) {
	bad := netip.MustParseAddr(ip)
	rec.decide = func(ctx context.Context, inv core.InboundInvite) core.OfferDecision {
		if inv.Source.Addr() == bad {
			refused.Add(1)
			return core.OfferDecision{RejectStatus: 403, RejectReason: "Forbidden"}
		}
		return core.OfferDecision{CallID: fmt.Sprintf("call-%d", rec.seq.Add(1)), KeepState: true}
	}
}

// TestForbiddenSourceLeavesNoState: an INVITE the core refuses with 403
// leaves no call, no dialog, no RTP port and no goroutine behind. Not
// parallel: it counts goroutines.
func TestForbiddenSourceLeavesNoState(t *testing.T) {
	rec := newRecorder()
	var refused atomic.Int64
	refuseFrom(rec, "127.0.0.2", &refused)
	h := startUA(t, rec, nil)
	base := runtime.NumGoroutine()
	for range 3 {
		s := sipptest.Start(t, "uac_expect_403.xml", h.addr, sipptest.Options{IP: "127.0.0.2"}, "-s", "100")
		s.Wait(t)
	}
	if refused.Load() != 3 {
		t.Errorf("%d INVITEs refused, want 3", refused.Load())
	}
	registryEmpty(t, h.ua)
	waitGoroutines(t, base, "after three refused INVITEs")
	rec.expectQuiet(t, 0)
}

// TestFloodFromForeignSource: 2,000 INVITEs in about a second from a
// source the core refuses are dropped but for the rate limit's burst and
// rate, unanswered and uncounted by the core; a call from another source
// placed in the middle of the flood is answered as usual. Not parallel:
// it is timing-sensitive.
func TestFloodFromForeignSource(t *testing.T) {
	rec := newRecorder()
	var refused atomic.Int64
	refuseFrom(rec, "127.0.0.2", &refused)
	h := startUA(t, rec, nil) // DefaultRateLimit: 20/s, bursts of 40
	flood := newUDPPeer(t, "127.0.0.2", h.addr)

	const total = 2000
	half := make(chan struct{})
	start := time.Now()
	sent := 0
	sender := make(chan error, 1)
	go func() {
		// Bursts of 10 every 5 ms: 2,000 in about a second, within what
		// the loopback socket buffers hold.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for sent < total {
			for range 10 {
				msg := rawRequest("INVITE", h.addr, flood.addr(), fmt.Sprintf("flood-%d", sent), "User-Agent: flood")
				if _, err := flood.conn.WriteToUDP([]byte(msg), flood.to); err != nil {
					sender <- err
					return
				}
				sent++
			}
			if sent == total/2 {
				close(half)
			}
			<-tick.C
		}
		sender <- nil
	}()

	<-half
	caller := startSipp(t, "uac_call_hangup.xml", h.addr, "-s", "100", "-d", "200")
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	if err := <-sender; err != nil {
		t.Fatalf("flood: %v", err)
	}
	sendTime := time.Since(start)
	caller.Wait(t)

	// Every datagram is either refused by the core or dropped by the
	// filter; wait (with a deadline) until all have been seen.
	processed := func() int64 { return refused.Load() + int64(h.ua.Stats().RateLimited) }
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.After(5 * time.Second); processed() < total; {
		select {
		case <-tick.C:
			continue
		case <-deadline:
		}
		break
	}
	elapsed := time.Since(start)
	st := h.ua.Stats()
	allowed := int64(2*DefaultRateLimit) + int64(elapsed.Seconds()*DefaultRateLimit) + 1
	t.Logf("flood: %d INVITEs sent from 127.0.0.2 in %s; %d reached the core (403), %d dropped by the rate limit, %d lost in the kernel; %d 403s received; the call from 127.0.0.1 was answered",
		total, sendTime.Round(time.Millisecond), refused.Load(), st.RateLimited, total-processed(), flood.count(403))
	if refused.Load() > allowed {
		t.Errorf("%d INVITEs reached the core in %s, want at most %d", refused.Load(), elapsed, allowed)
	}
	if processed() < total*9/10 {
		t.Errorf("only %d of %d INVITEs were seen", processed(), total)
	}
	if n := strings.Count(h.logs.String(), `msg="SIP messages dropped" component=sip source=127.0.0.2`); n != 1 {
		t.Errorf("%d drop warnings for 127.0.0.2, want 1 (once a minute)", n)
	}
}

// TestMaxCalls: at MaxCalls an INVITE is refused 503 with Retry-After
// before the core is asked; once a call ends there is room again.
func TestMaxCalls(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.MaxCalls = 1 })
	first := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "100")
	rec.offer(t)
	id := rec.expect(t, "answered").callID
	second := startSipp(t, "uac_expect_reject.xml", h.addr, "-s", "100", "-set", "expect", "503", "-set", "retry_after", "yes")
	second.Wait(t)
	if !strings.Contains(second.Traces(), "Retry-After: 5") {
		t.Errorf("the 503 did not carry Retry-After: 5\n%s", second.Traces())
	}
	select {
	case inv := <-rec.offers:
		t.Fatalf("the core was asked about an INVITE over the cap: %+v", inv)
	default:
	}
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	first.Wait(t)
	third := startSipp(t, "uac_call_hangup.xml", h.addr, "-s", "100")
	id3 := rec.expect(t, "answered").callID
	rec.expectEnded(t, id3, core.EndCallerHangup)
	third.Wait(t)
	if b := h.ua.Stats().Busy; b != 1 {
		t.Errorf("Stats.Busy = %d, want 1", b)
	}
}

// TestScannersDropped: requests with a scanner's User-Agent get no
// answer and never reach the core; over TCP the connection is closed.
func TestScannersDropped(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	p := newUDPPeer(t, "127.0.0.1", h.addr)
	p.send(t, rawRequest("OPTIONS", h.addr, p.addr(), "scan-1", "User-Agent: friendly-scanner"))
	p.send(t, rawRequest("INVITE", h.addr, p.addr(), "scan-2", "user-agent:SIPVicious 0.3.4"))
	p.send(t, rawRequest("REGISTER", h.addr, p.addr(), "scan-3", "User-Agent: sipcli/v1.8"))
	// The UA reads datagrams in order: once this one is answered, the
	// scanners' were filtered, and a filtered one is never parsed, so no
	// answer to it can come later.
	legit := rawRequest("OPTIONS", h.addr, p.addr(), "legit", "User-Agent: Asterisk PBX 20")
	p.send(t, legit)
	for _, r := range p.await(t, "legit", 200, legit) {
		if r.callID != "legit" {
			t.Errorf("a scanner got an answer: %q", r.raw)
		}
	}
	if n := h.ua.Stats().Scanners; n != 3 {
		t.Errorf("Stats.Scanners = %d, want 3", n)
	}

	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(eventWait))
	msg := strings.ReplaceAll(rawRequest("INVITE", h.addr, c.LocalAddr().String(), "scan-tcp", "User-Agent: sundayddr"), "SIP/2.0/UDP", "SIP/2.0/TCP")
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
		t.Errorf("TCP scanner: read %q, %v; want the connection closed without an answer", b, err)
	}
	select {
	case inv := <-rec.offers:
		t.Errorf("a scanner's INVITE reached the core: %+v", inv)
	default:
	}
}
