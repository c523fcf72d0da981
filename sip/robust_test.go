package sip

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMalformedMessages: garbage, requests without mandatory headers,
// truncated and oversized messages over UDP and TCP are answered 400 or
// dropped; the UA neither crashes nor creates calls nor asks the core,
// keeps no goroutine and no memory for them, and still answers OPTIONS.
// Not parallel: it counts goroutines and heap.
func TestMalformedMessages(t *testing.T) {
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.RateLimit = -1 })
	base := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	p := newUDPPeer(t, "127.0.0.1", h.addr)
	src := p.addr()
	drop := func(msg, header string) string {
		var out []string
		for _, l := range strings.Split(msg, "\r\n") {
			if !strings.HasPrefix(l, header+":") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\r\n")
	}
	invite := rawRequest("INVITE", h.addr, src, "m-invite")
	udp := []string{
		"\x00\x01\x02\xff\xfe",
		"hello world\r\n\r\n",
		"INVITE\r\n\r\n",
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\n\r\n",
		drop(invite, "Via"),
		drop(rawRequest("INVITE", h.addr, src, "m-nocseq"), "CSeq"),
		drop(rawRequest("INVITE", h.addr, src, "m-nocallid"), "Call-ID"),
		drop(rawRequest("OPTIONS", h.addr, src, "m-nofrom"), "From"),
		drop(rawRequest("BYE", h.addr, src, "m-noto"), "To"),
		drop(rawRequest("ACK", h.addr, src, "m-ack"), "Call-ID"),
		strings.Replace(rawRequest("BYE", h.addr, src, "m-badcseq"), "CSeq: 1 BYE", "CSeq: x BYE", 1),
		// The body is shorter than Content-Length.
		strings.Replace(invite, "Content-Length: 0\r\n\r\n", "Content-Length: 4000\r\n\r\nv=0\r\n", 1),
		strings.Replace(invite, "Content-Length: 0", "Content-Length: 4294967296", 1),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK5\r\nCSeq: 1 INVITE\r\n\r\n",
		rawRequest("OPTIONS", h.addr, src, "m-long", strings.Repeat("X-Long: "+strings.Repeat("a", 500), 20)),
		// 31 KiB of headers: parsed, not truncated.
		rawRequest("OPTIONS", h.addr, src, "m-31k", "X-Big: "+strings.Repeat("b", 31*1024)),
		// The largest IPv4 UDP datagram; the read buffer (32 KiB)
		// truncates it, so it is dropped unparsed.
		rawRequest("OPTIONS", h.addr, src, "m-64k", "X-Big: "+strings.Repeat("c", 65507))[:65507],
		strings.Repeat("\xff", 65507),
	}
	for range 20 {
		for _, m := range udp {
			p.send(t, m)
		}
	}
	// A datagram over 64 KiB cannot even be sent over IPv4.
	if _, err := p.conn.WriteToUDP(make([]byte, 70000), p.to); err == nil {
		t.Error("a 70,000-byte UDP datagram was sent")
	}
	sentinel := rawRequest("OPTIONS", h.addr, src, "sentinel")
	p.send(t, sentinel)
	p.await(t, "sentinel", 200, sentinel)

	tcpGarbage := []string{
		// Content-Length far beyond the 64 KiB a message may have: the
		// connection is closed before any body is read or allocated.
		strings.Replace(invite, "Content-Length: 0", "Content-Length: 99999999", 1),
		strings.Replace(invite, "Content-Length: 0", "Content-Length: 18446744073709551617", 1),
		// Headers that never end.
		"OPTIONS sip:1@127.0.0.1 SIP/2.0\r\n" + strings.Repeat("X-Endless: "+strings.Repeat("d", 1000)+"\r\n", 80),
		// One line that never ends.
		"OPTIONS sip:1@127.0.0.1 SIP/2.0\r\nX: " + strings.Repeat("e", 80*1024),
		strings.Repeat("\x00\x01garbage\xff", 10000),
	}
	for _, m := range tcpGarbage {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(eventWait))
		_, _ = c.Write([]byte(m)) // the UA may close before all is written
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// The UA must close a connection that carried garbage:
				// it cannot find the next message's start in the stream,
				// and an open connection holds a reader and a slot of the
				// source's connection limit.
				if !closedByPeer(err) {
					t.Errorf("TCP %.40q...: the connection was not closed by the UA: %v", m, err)
				}
				break
			}
			if strings.HasPrefix(line, "SIP/2.0 ") && !strings.HasPrefix(line, "SIP/2.0 400 ") {
				t.Errorf("TCP %.40q...: answered %q", m, line)
			}
		}
		_ = c.Close()
	}

	// Still alive and well.
	s := startSipp(t, "uac_options.xml", h.addr)
	s.Wait(t)
	s = startSipp(t, "uac_options.xml", h.addr, "-t", "t1")
	s.Wait(t)
	if n := h.ua.calls.count(); n != 0 {
		t.Errorf("%d calls after garbage", n)
	}
	select {
	case inv := <-rec.offers:
		t.Errorf("a malformed INVITE reached the core: %+v", inv)
	default:
	}
	st := h.ua.Stats()
	t.Logf("stats after garbage: %+v", st)
	// The kernel drops most of the 64 KiB datagrams sent back to back
	// (they fill the socket buffer); those that arrive are counted.
	if st.Malformed == 0 || st.Oversized == 0 || st.Panics != 0 {
		t.Errorf("stats %+v: want malformed and oversized messages counted, no panic", st)
	}
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("a stranger's message was logged as an error: %.300s", line)
		}
	}
	if strings.Contains(h.logs.String(), strings.Repeat("c", 1000)) {
		t.Error("a stranger's kilobytes reached the log")
	}
	// +2: the UDP peer's reader and its cleanup wait.
	waitGoroutines(t, base+2, "after the garbage")
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 16<<20 {
		t.Errorf("heap in use grew by %d MiB", grown>>20)
	}
}

// TestTCPConnectionsPerSource: one address holds maxConnsPerSource TCP
// connections at most; the ones over are closed at once, the others
// served; closed connections give their goroutines and slots back. Not
// parallel: it counts goroutines.
func TestTCPConnectionsPerSource(t *testing.T) {
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.RateLimit = 1000 })
	base := runtime.NumGoroutine()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	const extra = 5
	var conns []net.Conn
	for range maxConnsPerSource + extra {
		c, err := d.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	served, closed := 0, 0
	for i, c := range conns {
		_ = c.SetDeadline(time.Now().Add(eventWait))
		msg := strings.ReplaceAll(rawRequest("OPTIONS", h.addr, c.LocalAddr().String(), fmt.Sprintf("conn-%d", i)), "SIP/2.0/UDP", "SIP/2.0/TCP")
		if _, err := c.Write([]byte(msg)); err != nil {
			closed++
			continue
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err != nil:
			closed++
		case strings.HasPrefix(line, "SIP/2.0 200"):
			served++
		default:
			t.Errorf("connection %d: %q", i, line)
		}
	}
	if served != maxConnsPerSource || closed != extra {
		t.Errorf("%d connections served and %d closed, want %d and %d", served, closed, maxConnsPerSource, extra)
	}
	if n := h.ua.Stats().ConnsRefused; n != extra {
		t.Errorf("Stats.ConnsRefused = %d, want %d", n, extra)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	deadline := time.After(eventWait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for h.ua.filter.openConns() != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d connections still counted open", h.ua.filter.openConns())
		}
	}
	waitGoroutines(t, base, "after the connections closed")
}

// closedByPeer reports whether a read error means the other side closed
// the connection (an orderly close, or a reset when it closed with our
// bytes still unread), rather than our deadline passing.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}
