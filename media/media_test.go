package media_test

import (
	"context"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
)

// toneSpeech renders every utterance as a 1 kHz tone of a fixed length.
type toneSpeech struct{ d time.Duration }

func (t toneSpeech) Render(ctx context.Context, u core.Utterance) ([]int16, error) {
	n := int(t.d / time.Second * 8000)
	if t.d < time.Second {
		n = int(t.d.Milliseconds() * 8)
	}
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(6000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	return s, nil
}

func udp(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// readPackets reads RTP until n packets or the deadline.
func readPackets(t *testing.T, c *net.UDPConn, n int, within time.Duration) []rtp.Packet {
	t.Helper()
	var out []rtp.Packet
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(within))
	for len(out) < n {
		k, err := c.Read(buf)
		if err != nil {
			break
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:k]); err != nil {
			t.Fatalf("not RTP: %v", err)
		}
		p.Payload = append([]byte(nil), p.Payload...)
		out = append(out, p)
	}
	return out
}

func newEngine(t *testing.T, d time.Duration) *media.Engine {
	e := media.NewEngine(media.Config{Speech: toneSpeech{d}, KeepaliveInterval: -1})
	return e
}

func TestSayPacesG711Frames(t *testing.T) {
	e := newEngine(t, 500*time.Millisecond)
	far := udp(t)
	local := udp(t)
	e.Open("c1", local, media.Params{Remote: addr(far), PayloadType: 8, Codec: media.PCMA, TelephoneEvent: 101, Send: true})
	defer e.Close("c1")
	start := time.Now()
	if err := e.Say(context.Background(), "c1", core.Utterance{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	pkts := readPackets(t, far, 25, time.Second)
	if len(pkts) != 25 {
		t.Fatalf("%d packets for 500 ms", len(pkts))
	}
	if took < 460*time.Millisecond {
		t.Fatalf("500 ms of audio sent in %s: not paced", took)
	}
	var pcm []int16
	for i, p := range pkts {
		if p.PayloadType != 8 || len(p.Payload) != 160 || p.SSRC != pkts[0].SSRC {
			t.Fatalf("packet %d: pt %d, %d bytes, ssrc %x", i, p.PayloadType, len(p.Payload), p.SSRC)
		}
		if i > 0 && (p.SequenceNumber != pkts[i-1].SequenceNumber+1 || p.Timestamp != pkts[i-1].Timestamp+160) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, pkts[i-1].SequenceNumber, pkts[i-1].Timestamp)
		}
		pcm = append(pcm, media.Decode(media.PCMA, p.Payload)...)
	}
	if r := audio.RMS(pcm); r < 3500 {
		t.Fatalf("decoded audio rms %.0f: not the tone", r)
	}
}

func TestSymmetricRTPAndHold(t *testing.T) {
	e := newEngine(t, 100*time.Millisecond)
	far := udp(t)
	nat := udp(t) // where the far side's RTP really comes from
	local := udp(t)
	sdpAddr := addr(far)
	e.Open("c1", local, media.Params{Remote: sdpAddr, PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	defer e.Close("c1")
	// A source other than the SDP's is learned from a few packets in
	// sequence (media/source.go).
	for seq := uint16(1); seq <= 4; seq++ {
		sendSilence(t, nat, addr(local), 7, seq)
	}
	s := e.Session("c1")
	select {
	case <-s.Heard():
	case <-time.After(2 * time.Second):
		t.Fatal("the far side's packets were not received")
	}
	if err := e.Say(context.Background(), "c1", core.Utterance{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if got := readPackets(t, nat, 5, time.Second); len(got) != 5 {
		t.Fatalf("%d packets at the latched address", len(got))
	}
	// The far side holds: a=sendonly from it, we answer recvonly.
	e.Update("c1", media.Params{Remote: sdpAddr, PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: false})
	before := s.Stats().Sent
	if err := e.Say(context.Background(), "c1", core.Utterance{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if s.Stats().Sent != before {
		t.Fatalf("sent %d packets while held", s.Stats().Sent-before)
	}
	// Resumed (a=sendrecv, same address): the media flows again, to the
	// address latched before.
	e.Update("c1", media.Params{Remote: sdpAddr, PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	if err := e.Say(context.Background(), "c1", core.Utterance{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if got := readPackets(t, nat, 5, time.Second); len(got) != 5 || !got[0].Marker {
		t.Fatalf("%d packets after the resume", len(got))
	}
}

// sendSilence sends one PCMU packet of silence.
func sendSilence(t *testing.T, from *net.UDPConn, to netip.AddrPort, ssrc uint32, seq uint16) {
	t.Helper()
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, SSRC: ssrc}, Payload: make([]byte, 160)}).Marshal()
	if _, err := from.WriteToUDPAddrPort(pkt, to); err != nil {
		t.Fatal(err)
	}
}

// waitStats waits until cond holds for the session's counts.
func waitStats(t *testing.T, s *media.Session, cond func(media.Stats) bool) media.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("counts %+v", s.Stats())
		}
		time.Sleep(time.Millisecond) // polled: the receiver reports nothing per packet
	}
	return s.Stats()
}

// A packet from elsewhere neither takes the stream nor is heard: before,
// the first packet from anywhere was latched (a previous call's far side
// still sending to a reused port took the call's media).
func TestStrayRTPNotTaken(t *testing.T) {
	e := newEngine(t, 100*time.Millisecond)
	far, stray, local := udp(t), udp(t), udp(t)
	e.Open("c1", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	defer e.Close("c1")
	s := e.Session("c1")
	sendSilence(t, stray, addr(local), 99, 1)
	waitStats(t, s, func(st media.Stats) bool { return st.Dropped == 1 })
	select {
	case <-s.Heard():
		t.Fatal("a stray packet counted as the far side heard")
	default:
	}
	sendSilence(t, far, addr(local), 7, 1)
	select {
	case <-s.Heard():
	case <-time.After(2 * time.Second):
		t.Fatal("the far side's packet was not received")
	}
	for seq := uint16(2); seq <= 10; seq++ {
		sendSilence(t, stray, addr(local), 99, seq)
	}
	st := waitStats(t, s, func(st media.Stats) bool { return st.Dropped == 10 })
	if st.Received != 1 {
		t.Fatalf("received %d packets; want the far side's 1", st.Received)
	}
	if err := e.Say(context.Background(), "c1", core.Utterance{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if got := readPackets(t, far, 5, time.Second); len(got) != 5 {
		t.Fatalf("%d packets at the SDP's address", len(got))
	}
	if got := readPackets(t, stray, 1, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d packets sent to the stray source", len(got))
	}
}

func TestSayEndsWithTheCall(t *testing.T) {
	e := newEngine(t, 10*time.Second)
	far, local := udp(t), udp(t)
	e.Open("c1", local, media.Params{Remote: addr(far), Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	go func() {
		readPackets(t, far, 3, 2*time.Second)
		e.Close("c1")
	}()
	err := e.Say(context.Background(), "c1", core.Utterance{Text: "long"})
	if !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("Say on a call that ended: %v", err)
	}
}

func TestBridgeRelaysBothWays(t *testing.T) {
	e := newEngine(t, 0)
	farA, farB := udp(t), udp(t)
	la, lb := udp(t), udp(t)
	e.Open("a", la, media.Params{Remote: addr(farA), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	e.Open("b", lb, media.Params{Remote: addr(farB), PayloadType: 8, Codec: media.PCMA, TelephoneEvent: -1, Send: true})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan core.BridgeStats, 1)
	go func() { st, _ := e.Bridge(ctx, "a", "b"); res <- st }()
	// Wait for the bridge to be linked by sending until the other side hears.
	send := func(from *net.UDPConn, to netip.AddrPort, pt uint8, seq uint16) {
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = 0xD5 // PCMA silence; 0xFF in PCMU
		}
		p, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, SSRC: 9}, Payload: payload}).Marshal()
		_, _ = from.WriteToUDPAddrPort(p, to)
	}
	got := 0
	for i := 0; got == 0 && i < 100; i++ {
		send(farA, addr(la), 0, uint16(i))
		got = len(readPackets(t, farB, 1, 20*time.Millisecond))
	}
	for i := 0; i < 10; i++ {
		send(farB, addr(lb), 8, uint16(i))
	}
	back := readPackets(t, farA, 10, 2*time.Second)
	cancel()
	st := <-res
	e.Close("a")
	e.Close("b")
	if got == 0 || len(back) != 10 || st.AToB < 1 || st.BToA != 10 {
		t.Fatalf("relayed a->b %d (heard %d), b->a %d (heard %d)", st.AToB, got, st.BToA, len(back))
	}
	if v := media.Decode(media.PCMU, back[0].Payload)[0]; back[0].PayloadType != 0 || v > 16 || v < -16 {
		t.Fatalf("PCMA silence from b reached a as pt %d, sample %d; want PCMU silence", back[0].PayloadType, v)
	}
}
