package sip

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/voicedock/voicedock/sip/sipptest"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func exhausted(err error) bool {
	var ex *portsExhaustedError
	return errors.As(err, &ex)
}

// freeRTPPort is a UDP port free on 127.0.0.1 in the default RTP range,
// outside the ephemeral ports that other sockets are given.
func freeRTPPort(t *testing.T) int {
	t.Helper()
	for port := 15000; port < 20000; port += 2 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err == nil {
			_ = c.Close()
			return port
		}
	}
	t.Fatal("no free port in 15000-19999")
	return 0
}

// TestPortPoolOnePort: a one-port range hands out its port once, until it
// is released. Not parallel: the port is let go of in between.
func TestPortPoolOnePort(t *testing.T) {
	port := freeRTPPort(t)
	p, err := newPortPool(loopback, port, port)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := p.acquire()
	if err != nil || rp.port != port {
		t.Fatalf("acquire = %v, %v; want port %d", rp, err, port)
	}
	if _, err := p.acquire(); !exhausted(err) {
		t.Fatalf("second acquire = %v, want exhausted", err)
	}
	// The port is really held: nobody else can bind it.
	if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port)))); err == nil {
		_ = c.Close()
		t.Error("the reserved port could be bound by someone else")
	}
	p.release(rp)
	p.release(rp) // twice is harmless
	p.release(nil)
	if p.inUseCount() != 0 {
		t.Errorf("inUseCount = %d after release", p.inUseCount())
	}
	again, err := p.acquire()
	if err != nil || again.port != port {
		t.Fatalf("after release: %v, %v", again, err)
	}
	p.release(again)
}

// TestPortPoolSkipsBusyPorts: a port another socket holds is not handed out.
func TestPortPoolSkipsBusyPorts(t *testing.T) {
	t.Parallel()
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := other.LocalAddr().(*net.UDPAddr).Port
	p, err := newPortPool(loopback, port, port)
	if err != nil {
		t.Fatal(err)
	}
	if rp, err := p.acquire(); !exhausted(err) {
		t.Fatalf("acquire = %v, %v; want exhausted", rp, err)
	}
}

// TestPortPoolEvenPorts: ports of a wider range are even and in the range,
// each handed out once.
func TestPortPoolEvenPorts(t *testing.T) {
	t.Parallel()
	lo := sipptest.FreePort(t) &^ 1
	p, err := newPortPool(loopback, lo, lo+9)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var got []*rtpPort
	for {
		rp, err := p.acquire()
		if exhausted(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rp.port%2 != 0 || rp.port < lo || rp.port > lo+9 || seen[rp.port] {
			t.Errorf("port %d: odd, outside %d-%d or handed out twice", rp.port, lo, lo+9)
		}
		seen[rp.port] = true
		got = append(got, rp)
		if len(got) > 5 {
			t.Fatal("more ports than the range holds")
		}
	}
	if p.inUseCount() != len(got) {
		t.Errorf("inUseCount = %d, want %d", p.inUseCount(), len(got))
	}
	for _, rp := range got {
		p.release(rp)
	}
}

func TestPortPoolBadRange(t *testing.T) {
	t.Parallel()
	for _, r := range [][2]int{{0, 10}, {10, 5}, {1, 70000}} {
		if _, err := newPortPool(loopback, r[0], r[1]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
	p, err := newPortPool(loopback, 7001, 7001)
	if err != nil || len(p.candidates) != 1 || p.candidates[0] != 7001 {
		t.Errorf("single odd port: %v %v", p, err)
	}
}
