package sip

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/voicedock/voicedock/sip/sipptest"
)

func TestPortPool(t *testing.T) {
	t.Parallel()
	lo := sipptest.FreePort(t) &^ 1 // an even port, probably free with its neighbours
	p, err := newPortPool(netip.MustParseAddr("127.0.0.1"), lo, lo+5)
	if err != nil {
		t.Fatal(err)
	}
	// A port someone else holds is skipped.
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lo + 2})
	if err == nil {
		defer other.Close()
	}
	var got []*rtpPort
	for {
		rp, err := p.acquire()
		if err != nil {
			var ex *portsExhaustedError
			if !errors.As(err, &ex) {
				t.Fatalf("acquire: %v", err)
			}
			break
		}
		if rp.port%2 != 0 || rp.port < lo || rp.port > lo+5 {
			t.Errorf("port %d outside the even ports of %d-%d", rp.port, lo, lo+5)
		}
		got = append(got, rp)
		if len(got) > 3 {
			t.Fatal("more ports than the range holds")
		}
	}
	if other != nil && len(got) != 2 || len(got) == 0 {
		t.Errorf("got %d ports", len(got))
	}
	if p.inUseCount() != len(got) {
		t.Errorf("inUseCount = %d, want %d", p.inUseCount(), len(got))
	}
	p.release(got[0])
	p.release(got[0]) // twice is harmless
	p.release(nil)
	again, err := p.acquire()
	if err != nil || again.port != got[0].port {
		t.Errorf("after release: %v, %v; want port %d", again, err, got[0].port)
	}
	for _, rp := range append(got[1:], again) {
		p.release(rp)
	}
	if p.inUseCount() != 0 {
		t.Errorf("inUseCount = %d after releasing all", p.inUseCount())
	}
}

func TestPortPoolBadRange(t *testing.T) {
	t.Parallel()
	for _, r := range [][2]int{{0, 10}, {10, 5}, {1, 70000}} {
		if _, err := newPortPool(netip.MustParseAddr("127.0.0.1"), r[0], r[1]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
	p, err := newPortPool(netip.MustParseAddr("127.0.0.1"), 7001, 7001)
	if err != nil || len(p.candidates) != 1 || p.candidates[0] != 7001 {
		t.Errorf("single odd port: %v %v", p, err)
	}
}
