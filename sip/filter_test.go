package sip

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeClock is a filter clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time            { return c.t }
func (c *fakeClock) advance(d time.Duration)   { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                 { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func udpFrom(ip string) sip.TransportReadProps { return propsFrom(tpUDP, ip) }

func propsFrom(transport, ip string) sip.TransportReadProps {
	a := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 5060))
	if transport == tpUDP {
		return sip.TransportReadProps{Transport: transport, RemoteAddr: a}
	}
	return sip.TransportReadProps{Transport: transport, RemoteAddr: &net.TCPAddr{IP: a.IP, Port: a.Port}}
}

func testFilter(perSecond, maxSources int) (*filter, *fakeClock, *syncBuffer) {
	logs := &syncBuffer{}
	f := newFilter(perSecond, maxSources, slog.New(slog.NewTextHandler(logs, nil)))
	clock := newFakeClock()
	f.now = clock.now
	return f, clock, logs
}

var options = []byte("OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1\r\n\r\n")

// passes reads n messages from ip and counts those let through.
func passes(t *testing.T, f *filter, props sip.TransportReadProps, n int, msg []byte) int {
	t.Helper()
	ok := 0
	for range n {
		out, err := f.read(props, msg)
		if len(out) > 0 && err == nil {
			ok++
		}
	}
	return ok
}

// TestRateLimitPerSource: 2x the rate in a burst, then the rate; one
// source's flood costs the others nothing; one warning a minute per
// source, with the count.
func TestRateLimitPerSource(t *testing.T) {
	t.Parallel()
	f, clock, logs := testFilter(10, 100)
	if n := passes(t, f, udpFrom("127.0.0.2"), 100, options); n != 20 {
		t.Fatalf("burst: %d passed, want 20", n)
	}
	if n := passes(t, f, udpFrom("127.0.0.1"), 20, options); n != 20 {
		t.Fatalf("another source: %d of 20 passed", n)
	}
	clock.advance(time.Second)
	if n := passes(t, f, udpFrom("127.0.0.2"), 100, options); n != 10 {
		t.Fatalf("a second later: %d passed, want 10", n)
	}
	if got := f.drops[dropRate].Load(); got != 170 {
		t.Errorf("counted %d rate-limited, want 170", got)
	}
	if n := strings.Count(logs.String(), `msg="SIP messages dropped" source=127.0.0.2`); n != 1 {
		t.Errorf("%d warnings within a minute, want 1:\n%s", n, logs)
	}
	clock.advance(dropLogEvery)
	passes(t, f, udpFrom("127.0.0.2"), 100, options)
	if !strings.Contains(logs.String(), "source=127.0.0.2 rate_limited=169") {
		t.Errorf("the minute's drops were not logged with their count:\n%s", logs)
	}
}

// TestRateLimitOverTCP: a TCP read over the limit closes the connection
// (an error), rather than skipping bytes of a stream.
func TestRateLimitOverTCP(t *testing.T) {
	t.Parallel()
	f, _, _ := testFilter(1, 100)
	p := propsFrom(tpTCP, "127.0.0.2")
	for i := range 2 {
		if _, err := f.read(p, options); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if out, err := f.read(p, options); err == nil || out != nil {
		t.Fatalf("read over the limit: %q, %v; want an error", out, err)
	}
}

// TestTrustedSourcesExempt: a source the core accepted a call from is not
// limited for trustFor; then it is again.
func TestTrustedSourcesExempt(t *testing.T) {
	t.Parallel()
	f, clock, _ := testFilter(5, 100)
	f.trust(netip.MustParseAddr("192.0.2.7"))
	if n := passes(t, f, udpFrom("192.0.2.7"), 500, options); n != 500 {
		t.Fatalf("trusted: %d of 500 passed", n)
	}
	clock.advance(trustFor + time.Second)
	if n := passes(t, f, udpFrom("192.0.2.7"), 500, options); n != 10 {
		t.Fatalf("trust expired: %d passed, want the burst of 10", n)
	}
}

// TestSourcesBounded: idle sources are forgotten; while the table is full
// of active ones, new sources are dropped (and that is logged once).
func TestSourcesBounded(t *testing.T) {
	t.Parallel()
	f, clock, logs := testFilter(10, 3)
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		passes(t, f, udpFrom(ip), 1, options)
	}
	if n := passes(t, f, udpFrom("10.0.0.4"), 5, options); n != 0 {
		t.Fatalf("table full: %d passed from a new source", n)
	}
	if n := strings.Count(logs.String(), "SIP sources table full"); n != 1 {
		t.Errorf("%d table-full warnings, want 1:\n%s", n, logs)
	}
	clock.advance(sourceIdle)
	passes(t, f, udpFrom("10.0.0.1"), 1, options) // still active
	if n := passes(t, f, udpFrom("10.0.0.4"), 5, options); n != 5 {
		t.Fatalf("after the idle ones were forgotten: %d of 5 passed", n)
	}
	f.mu.Lock()
	n := len(f.sources)
	f.mu.Unlock()
	if n != 2 {
		t.Errorf("%d sources tracked, want 2 (10.0.0.1 and 10.0.0.4)", n)
	}
}

// TestSweepLogsPendingDrops: drops not yet logged when their source is
// forgotten are logged then.
func TestSweepLogsPendingDrops(t *testing.T) {
	t.Parallel()
	f, clock, logs := testFilter(1, 100)
	passes(t, f, udpFrom("10.0.0.9"), 10, options) // 2 pass, 1 logged at once, 7 pending
	clock.advance(sourceIdle + time.Second)
	passes(t, f, udpFrom("10.0.0.1"), 1, options) // sweeps
	if !strings.Contains(logs.String(), "source=10.0.0.9 rate_limited=7") {
		t.Errorf("pending drops not logged on sweep:\n%s", logs)
	}
}

func TestNoLimitKeepsNoState(t *testing.T) {
	t.Parallel()
	f, _, _ := testFilter(-1, 100)
	if n := passes(t, f, udpFrom("10.0.0.1"), 1000, options); n != 1000 {
		t.Fatalf("%d of 1000 passed with no limit", n)
	}
	if len(f.sources) != 0 {
		t.Errorf("%d sources tracked with no limit", len(f.sources))
	}
}

func TestScannerUserAgents(t *testing.T) {
	t.Parallel()
	f, _, _ := testFilter(-1, 100)
	for _, ua := range []string{"friendly-scanner", "SIPVicious 0.3.4", "sipcli/v1.8", "sip-scan", "VaxSIPUserAgent/3.1",
		"PPLSIP", "iWar", "sundayddr", "sipsak 0.9.6"} {
		for _, hdr := range []string{"User-Agent: ", "user-agent:", "USER-AGENT \t: "} {
			msg := []byte("OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n" + hdr + ua + "\r\nCall-ID: 1\r\n\r\n")
			if out, _ := f.read(udpFrom("10.0.0.1"), msg); out != nil {
				t.Errorf("%s%s passed", hdr, ua)
			}
		}
	}
	for _, msg := range []string{
		"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nUser-Agent: Asterisk PBX 20.1\r\n\r\n",
		"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nX-User-Agent: friendly-scanner\r\n\r\n",
		"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nUser-Agents: friendly-scanner\r\n\r\n",
		// Only the headers count, not the body.
		"MESSAGE sip:100@192.0.2.1 SIP/2.0\r\nUser-Agent: Linphone\r\n\r\nUser-Agent: friendly-scanner\r\n",
		"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nUser-Agent: sipp\r\n\r\n",
	} {
		if out, _ := f.read(udpFrom("10.0.0.1"), []byte(msg)); out == nil {
			t.Errorf("dropped %q", msg)
		}
	}
	if got := f.drops[dropScanner].Load(); got != 27 {
		t.Errorf("counted %d scanner messages, want 27", got)
	}
}

func TestOversizedDatagram(t *testing.T) {
	t.Parallel()
	f, _, _ := testFilter(-1, 100)
	big := make([]byte, sip.TransportBufferReadSize)
	if out, err := f.read(udpFrom("10.0.0.1"), big); out != nil || err != nil {
		t.Errorf("a datagram filling the read buffer passed")
	}
	// Over TCP a full buffer is just a busy stream.
	if out, err := f.read(propsFrom(tpTCP, "10.0.0.1"), big); out == nil || err != nil {
		t.Errorf("a full TCP read was dropped: %v", err)
	}
	if got := f.drops[dropOversized].Load(); got != 1 {
		t.Errorf("counted %d oversized, want 1", got)
	}
}

func TestConnectionsPerSource(t *testing.T) {
	t.Parallel()
	f, _, _ := testFilter(-1, 100)
	src := netip.MustParseAddr("10.0.0.1")
	for i := range maxConnsPerSource {
		if !f.openConn(src) {
			t.Fatalf("connection %d refused", i+1)
		}
	}
	if f.openConn(src) {
		t.Fatal("a connection over the cap was admitted")
	}
	if !f.openConn(netip.MustParseAddr("10.0.0.2")) {
		t.Fatal("another source's connection refused")
	}
	f.closeConn(src)
	if !f.openConn(src) {
		t.Fatal("a connection after one closed was refused")
	}
	if f.connsRefused.Load() != 1 || f.openConns() != maxConnsPerSource+1 {
		t.Errorf("refused %d, open %d", f.connsRefused.Load(), f.openConns())
	}
}
