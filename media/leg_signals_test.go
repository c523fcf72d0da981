package media_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
)

// SendDigits: each key is RFC 4733 events at the negotiated payload type
// (a marker on the first, the duration growing, three end packets), w
// pauses half a second, and the audio after them carries on in time.
func TestSendDigitsRFC4733(t *testing.T) {
	e := newEngine(t, 100*time.Millisecond)
	far, local := udp(t), udp(t)
	e.Open("leg", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: 96, Send: true})
	defer e.Close("leg")
	if err := e.SendDigits(context.Background(), "leg", "1w#"); err != nil {
		t.Fatal(err)
	}
	if err := e.Say(context.Background(), "leg", core.Utterance{Text: "after"}); err != nil {
		t.Fatal(err)
	}
	pkts := readPackets(t, far, 21, 2*time.Second)
	if len(pkts) != 21 {
		t.Fatalf("%d packets, want 8 per key and 5 of audio", len(pkts))
	}
	for k, key := range []byte{1, 11} {
		ev := pkts[k*8 : k*8+8]
		for i, p := range ev {
			dur := int(p.Payload[2])<<8 | int(p.Payload[3])
			end := p.Payload[1]&0x80 != 0
			if p.PayloadType != 96 || p.Payload[0] != key || p.Marker != (i == 0) || end != (i >= 5) || dur != min(i+1, 5)*160 || p.Timestamp != ev[0].Timestamp {
				t.Errorf("key %d packet %d: pt %d %v marker %t end %t duration %d ts %d", key, i, p.PayloadType, p.Payload, p.Marker, end, dur, p.Timestamp)
			}
			if i > 0 && p.SequenceNumber != ev[i-1].SequenceNumber+1 {
				t.Errorf("key %d packet %d: seq %d", key, i, p.SequenceNumber)
			}
		}
	}
	// The pause (w, 500 ms) moves the clock on: the second key starts at
	// least 8 frames and 25 frames of pause after the first.
	if d := pkts[8].Timestamp - pkts[0].Timestamp; d < 30*160 {
		t.Errorf("second key %d samples after the first", d)
	}
	if a := pkts[16]; a.PayloadType != 0 || !a.Marker || a.Timestamp <= pkts[8].Timestamp+4*160 {
		t.Errorf("audio after the keys: pt %d marker %t ts %d (key at %d)", a.PayloadType, a.Marker, a.Timestamp, pkts[8].Timestamp)
	}
	if err := e.SendDigits(context.Background(), "leg", "1x"); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("bad key: %v", err)
	}
}

// Without telephone-event the keys are tones in the audio.
func TestSendDigitsInBand(t *testing.T) {
	e := newEngine(t, 100*time.Millisecond)
	far, local := udp(t), udp(t)
	e.Open("leg", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	defer e.Close("leg")
	if err := e.SendDigits(context.Background(), "leg", "5"); err != nil {
		t.Fatal(err)
	}
	pkts := readPackets(t, far, 5, time.Second)
	var pcm []int16
	for _, p := range pkts {
		if p.PayloadType != 0 {
			t.Fatalf("payload type %d", p.PayloadType)
		}
		pcm = append(pcm, media.Decode(media.PCMU, p.Payload)...)
	}
	// 5 is 770 Hz and 1336 Hz.
	if len(pcm) != 800 || goertzel(pcm, 770) < 100*goertzel(pcm, 1000) || goertzel(pcm, 1336) < 100*goertzel(pcm, 1000) {
		t.Errorf("%d samples; power at 770 %.0f, 1336 %.0f, 1000 %.0f", len(pcm), goertzel(pcm, 770), goertzel(pcm, 1336), goertzel(pcm, 1000))
	}
}

// goertzel is the power of f in pcm (8 kHz).
func goertzel(pcm []int16, f float64) float64 {
	w := 2 * math.Cos(2*math.Pi*f/8000)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + w*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - w*s1*s2
}

// Listen hears the keys (RFC 4733 end packets once each, SIP INFO) and
// the start of speech, and ends with the call.
func TestListen(t *testing.T) {
	e := newEngine(t, 100*time.Millisecond)
	far, local := udp(t), udp(t)
	e.Open("leg", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: 101, Send: true})
	signals, err := e.Listen(t.Context(), "leg")
	if err != nil {
		t.Fatal(err)
	}
	send := func(p rtp.Packet) {
		b, _ := p.Marshal()
		if _, err := far.WriteToUDPAddrPort(b, addr(local)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() core.LegSignal {
		t.Helper()
		select {
		case s := <-signals:
			return s
		case <-time.After(2 * time.Second):
			t.Fatal("nothing heard")
		}
		return core.LegSignal{}
	}
	for i := range 3 { // the end packet, three times: one key
		send(rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(i), Timestamp: 800}, Payload: []byte{1, 0x8a, 3, 0x20}})
	}
	if s := next(); s.Digit != "1" {
		t.Errorf("RFC 4733: %+v", s)
	}
	if !e.Digit("leg", "#", core.DigitSIPInfo) {
		t.Error("INFO digit refused")
	}
	if s := next(); s.Digit != "#" {
		t.Errorf("INFO: %+v (a repeated end packet counted twice?)", s)
	}
	tone := make([]int16, 160)
	for i := range tone {
		tone[i] = int16(5000 * math.Sin(2*math.Pi*300*float64(i)/8000))
	}
	payload := make([]byte, 160)
	for i, s := range tone {
		payload[i] = g711.EncodeUlawFrame(s)
	}
	for i := range 5 {
		send(rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(10 + i), Timestamp: uint32(2000 + 160*i)}, Payload: payload})
	}
	if s := next(); !s.Speech {
		t.Errorf("voice: %+v", s)
	}
	e.Close("leg")
	select {
	case _, ok := <-signals:
		if ok {
			t.Error("a signal after the call ended")
		}
	case <-time.After(2 * time.Second):
		t.Error("the channel stayed open after the call ended")
	}
}
