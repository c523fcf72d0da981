package media

import (
	"net/netip"
	"testing"
)

func TestRTPSourceSDPAddressAtOnce(t *testing.T) {
	sdp := netip.MustParseAddrPort("192.0.2.1:4000")
	var r rtpSource
	r.reset(sdp)
	if ok, to := r.accept(sdp, 1, 10); !ok || to.IsValid() {
		t.Fatalf("first packet from the SDP's address: media %v, send to %v", ok, to)
	}
	stray := netip.MustParseAddrPort("198.51.100.7:5000")
	for seq := uint16(1); seq <= 10; seq++ {
		if ok, _ := r.accept(stray, 2, seq); ok {
			t.Fatalf("packet %d from %v taken while the SDP's address sends", seq, stray)
		}
	}
}

func TestRTPSourceLearnedAfterProbation(t *testing.T) {
	sdp := netip.MustParseAddrPort("10.0.0.5:4000") // a private address behind NAT
	nat := netip.MustParseAddrPort("203.0.113.9:31000")
	var r rtpSource
	r.reset(sdp)
	for seq := uint16(100); seq < 100+probation-1; seq++ {
		if ok, _ := r.accept(nat, 7, seq); ok {
			t.Fatalf("packet %d taken before %d in sequence", seq, probation)
		}
	}
	ok, to := r.accept(nat, 7, 100+probation-1)
	if !ok || to != nat {
		t.Fatalf("packet %d in sequence: media %v, send to %v; want %v", probation, ok, to, nat)
	}
	if ok, to := r.accept(nat, 7, 200); !ok || to.IsValid() {
		t.Fatalf("a later packet from the learned source: media %v, send to %v", ok, to)
	}
	if ok, _ := r.accept(netip.MustParseAddrPort("203.0.113.9:31002"), 7, 201); ok {
		t.Fatal("another port taken once a source was learned")
	}
	// The SDP's address outranks what was learned.
	if ok, to := r.accept(sdp, 8, 1); !ok || to != sdp {
		t.Fatalf("the SDP's address after a learned one: media %v, send to %v", ok, to)
	}
	if ok, _ := r.accept(nat, 7, 202); ok {
		t.Fatal("the learned source still taken after the SDP's address sent")
	}
}

func TestRTPSourceProbationNeedsOneStream(t *testing.T) {
	sdp := netip.MustParseAddrPort("10.0.0.5:4000")
	a := netip.MustParseAddrPort("198.51.100.1:6000")
	b := netip.MustParseAddrPort("198.51.100.2:6000")
	var r rtpSource
	r.reset(sdp)
	packets := []struct {
		from netip.AddrPort
		ssrc uint32
		seq  uint16
	}{
		{a, 1, 1}, {a, 1, 2}, {a, 1, 3}, // three in sequence,
		{b, 1, 4},                       // another source,
		{a, 1, 5}, {a, 1, 6}, {a, 1, 7}, // three again,
		{a, 2, 8},                         // another SSRC,
		{a, 2, 9}, {a, 2, 10}, {a, 2, 12}, // a gap
	}
	for _, p := range packets {
		if ok, _ := r.accept(p.from, p.ssrc, p.seq); ok {
			t.Fatalf("packet %+v taken without %d in sequence", p, probation)
		}
	}
}

func TestRTPSourceForgottenOnANewNegotiation(t *testing.T) {
	sdp := netip.MustParseAddrPort("10.0.0.5:4000")
	nat := netip.MustParseAddrPort("203.0.113.9:31000")
	var r rtpSource
	r.reset(sdp)
	for seq := uint16(1); seq <= probation; seq++ {
		r.accept(nat, 7, seq)
	}
	r.reset(netip.MustParseAddrPort("10.0.0.6:4000"))
	if ok, _ := r.accept(nat, 7, probation+1); ok {
		t.Fatal("the source learned under the old negotiation taken under the new one")
	}
}
