//go:build linux

package main

import (
	"bytes"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// waitUntil waits until ok holds for the packets heard so far and
// returns them.
func (e *rtpEar) waitUntil(t *testing.T, what string, timeout time.Duration, ok func([]heard) bool) []heard {
	t.Helper()
	deadline := time.After(timeout)
	for {
		e.mu.Lock()
		pkts := append([]heard(nil), e.pkts...)
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		changed := e.changed
		e.mu.Unlock()
		if ok(pkts) {
			return pkts
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: not within %s (%d packets heard)", what, timeout, len(pkts))
		}
	}
}

// heardSoFar is every packet heard so far.
func (e *rtpEar) heardSoFar() []heard {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]heard(nil), e.pkts...)
}

// send sends one RTP packet from the ear's socket, as the phone would.
func (e *rtpEar) send(t *testing.T, to netip.AddrPort, p *rtp.Packet) {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.conn.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// holdHeard checks that each run of hold audio starts with its tones
// (energy in its first half second: not silence) and returns how long the
// runs last together.
func holdHeard(t *testing.T, runs []spurt) time.Duration {
	t.Helper()
	var total time.Duration
	for i, h := range runs {
		total += h.duration()
		head := h.pcm[:min(len(h.pcm), 4000)]
		if r := audio.RMS(head); r < 300 {
			t.Errorf("hold run %d (%s): its first half second is silence (rms %.0f)", i, h.duration(), r)
		}
	}
	return total
}

// referSent is when the server sent its REFER on callID, from its log
// (to the millisecond, truncated).
func referSent(t *testing.T, line *phoneLine, callID string) time.Time {
	t.Helper()
	re := regexp.MustCompile(`time=(\S+) level=INFO msg="REFER sent".* call_id=` + regexp.QuoteMeta(callID) + `\b`)
	m, _ := line.logs.waitFor(t, re, 0, 10*time.Second)
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestWarmTransferAudio: a warm transfer as both people hear it. The
// caller hears the transfer's message, then hold audio without a gap while
// the human's phone rings and while the human hears the summary; the
// human hears the summary, all of it, before the REFER with Replaces goes
// to the caller.
func TestWarmTransferAudio(t *testing.T) {
	// Not parallel: it measures gaps in audio played in real time.
	needESpeak(t)
	const notice, summary = "Please hold while I connect you.", "Customer asks about a refund"
	callerEar, humanEar := listenRTP(t), listenRTP(t)
	target := sipptest.Start(t, "uas_media_warm_target.xml", "", sipptest.Options{Calls: 2},
		"-set", "rtpport", humanEar.port(), "-set", "ring_ms", "1500")
	line := newModesLine(t, target.Port(), "warm")
	caller := sipptest.Start(t, "uac_media_replaces.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "rtpport", callerEar.port())
	callID := line.answered(t)

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "message": notice, "summary": summary})
	if res.isError {
		t.Fatalf("warm transfer: %s\n%s", res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	caller.Wait(t)
	target.Wait(t)
	referAt := referSent(t, line, callID)

	said := callerEar.spurts(t, 10)
	for i, s := range said {
		t.Logf("caller heard %d: %s, %d packets, rms %.0f, %s-%s", i, s.duration(), s.packets, audio.RMS(s.pcm), s.first.Format(time.StampMilli), s.last.Format(time.StampMilli))
	}
	told := humanEar.spurts(t, 10)
	for i, s := range told {
		t.Logf("human heard %d: %s, %d packets, rms %.0f, %s-%s", i, s.duration(), s.packets, audio.RMS(s.pcm), s.first.Format(time.StampMilli), s.last.Format(time.StampMilli))
	}
	t.Logf("REFER sent %s", referAt.Format(time.StampMilli))
	if len(said) < 2 {
		t.Fatalf("the caller heard %d runs of audio, want the message and hold audio", len(said))
	}
	checkSaid(t, said[0], notice)
	hold := said[1:]
	holdHeard(t, hold)
	if gap := hold[0].first.Sub(said[0].last); gap > 300*time.Millisecond {
		t.Errorf("the caller waited %s in silence between the message and hold audio", gap)
	}
	if len(told) != 1 {
		t.Fatalf("the human heard %d runs of audio, want the summary", len(told))
	}
	checkSaid(t, told[0], summary)
	// The human's phone rang 1.5 s with the caller on hold.
	if d := told[0].first.Sub(hold[0].first); d < time.Second {
		t.Errorf("the summary started %s after hold audio; the phone rang 1.5 s", d)
	}
	if !told[0].last.Before(referAt.Add(time.Millisecond)) {
		t.Errorf("the summary's last packet arrived at %s, after the REFER went at %s", told[0].last.Format(time.StampMicro), referAt.Format(time.StampMicro))
	}
	// Hold audio lasts, without a pause, from its start until the REFER:
	// the caller is never left in silence.
	if last := hold[len(hold)-1].last; last.Before(told[0].last) {
		t.Errorf("hold audio ended at %s, before the summary did (%s)", last.Format(time.StampMilli), told[0].last.Format(time.StampMilli))
	}
	callerEar.mu.Lock()
	var prev time.Time
	for _, h := range callerEar.pkts {
		if h.at.Before(hold[0].first) || h.at.After(referAt) {
			continue
		}
		if !prev.IsZero() && h.at.Sub(prev) > 250*time.Millisecond {
			t.Errorf("the held caller heard nothing for %s from %s", h.at.Sub(prev), prev.Format(time.StampMilli))
		}
		prev = h.at
	}
	callerEar.mu.Unlock()
}

// TestWarmNoAnswerAudio: the human's phone rings past dial_timeout while
// the caller hears hold audio; then the hold audio stops, the caller hears
// the fallback message, and the call stays with the assistant (what it
// says next is heard, with no hold audio in between).
func TestWarmNoAnswerAudio(t *testing.T) {
	// Not parallel: it measures how long hold audio plays.
	needESpeak(t)
	const sorry, still = "Sorry, nobody in sales is free.", "Are you still there?"
	ear := listenRTP(t)
	leg := sipptest.Start(t, "uas_ring_cancel.xml", "", sipptest.Options{})
	line := newModesLine(t, leg.Port(), "warm")
	caller := sipptest.Start(t, "uac_media_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "rtpport", ear.port())
	callID := line.answered(t)

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "dial_timeout": 5, "fallback_message": sorry})
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "did not answer within 5s") {
		t.Fatalf("unanswered warm transfer: %s", res.text)
	}
	leg.Wait(t)
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after an unanswered warm transfer the call is %s", s)
	}
	mustCall(t, line.c, "say_call", `{"call_id":"`+callID+`","message":"`+still+`"}`)

	said := ear.spurts(t, 10)
	for i, s := range said {
		t.Logf("caller heard %d: %s, %d packets, rms %.0f, %s-%s", i, s.duration(), s.packets, audio.RMS(s.pcm), s.first.Format(time.StampMilli), s.last.Format(time.StampMilli))
	}
	n := len(said)
	if n < 3 {
		t.Fatalf("the caller heard %d runs of audio, want hold audio, the fallback message and the next message", n)
	}
	// Hold audio for the 5 s the phone rang, then the fallback message,
	// then what the assistant said next: no hold audio after the message.
	if d := holdHeard(t, said[:n-2]); d < 4500*time.Millisecond || d > 6500*time.Millisecond {
		t.Errorf("%s of hold audio while the phone rang 5 s", d)
	}
	checkSaid(t, said[n-2], sorry)
	checkSaid(t, said[n-1], still)
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestBridgeRelaysAudio: after a bridge transfer, and after a warm one
// bridged because the caller's side does not support Replaces, the server
// relays RTP both ways between the caller and the human's leg, transcoding
// between the caller's PCMA and the leg's PCMU; 50 packets are sent each
// way.
func TestBridgeRelaysAudio(t *testing.T) {
	// Not parallel: it paces RTP and checks what arrives in time.
	for _, mode := range []string{"bridge", "warm"} {
		t.Run(mode, func(t *testing.T) { testBridgeRelaysAudio(t, mode) })
	}
}

func testBridgeRelaysAudio(t *testing.T, mode string) {
	if mode == "warm" {
		needESpeak(t) // the human hears the summary first
	}
	const packets = 50
	callerEar, humanEar := listenRTP(t), listenRTP(t)
	leg := sipptest.Start(t, "uas_media_leg.xml", "", sipptest.Options{}, "-set", "rtpport", humanEar.port())
	line := newModesLine(t, leg.Port(), mode, "VOICEDOCK_RTP_KEEPALIVE=100ms")
	caller := sipptest.Start(t, "uac_media_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "rtpport", callerEar.port())
	callID := line.answered(t)
	// A keepalive tells the caller where the server's RTP is, and in
	// which codec.
	first := callerEar.waitUntil(t, "a keepalive to the caller", 10*time.Second, func(h []heard) bool { return len(h) > 0 })[0]
	server, callerPT := first.from, first.pkt.PayloadType
	if callerPT != 8 {
		t.Fatalf("the caller offered PCMA first; the server sends payload type %d", callerPT)
	}

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund"})
	if res.isError {
		t.Fatalf("%s transfer: %s\n%s", mode, res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	line.logs.waitFor(t, regexp.MustCompile(`msg="bridge started" call_id=`+regexp.QuoteMeta(callID)+`\b`), 0, 10*time.Second)

	// Each packet's payload is distinct: packet i's bytes count up from 5i.
	payload := func(i int) []byte {
		b := make([]byte, 160)
		for j := range b {
			b[j] = byte(i*5 + j)
		}
		return b
	}
	caller0, human0 := callerEar.count(), humanEar.count()
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	var leg0 netip.AddrPort
	for i := range packets {
		<-pace.C
		callerEar.send(t, server, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: callerPT, SequenceNumber: uint16(1000 + i), Timestamp: uint32(160 * i), SSRC: 0xCA11E4}, Payload: payload(i)})
		if i == 0 {
			// The first relayed packet tells the human's phone where the
			// server's leg is.
			h := humanEar.waitUntil(t, "the first packet relayed to the human", 5*time.Second, func(h []heard) bool { return len(h) > human0 })
			leg0 = h[human0].from
		}
		humanEar.send(t, leg0, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(2000 + i), Timestamp: uint32(160 * i), SSRC: 0x4B3A4}, Payload: payload(packets + i)})
	}
	// relayed counts the packets that arrived on an ear after from, with
	// payload type pt, whose payload is one that was sent, transcoded.
	relayed := func(h []heard, from int, pt uint8, want func(i int) []byte) int {
		n := 0
		for _, p := range h[from:] {
			for i := range packets {
				if p.pkt.PayloadType == pt && bytes.Equal(p.pkt.Payload, want(i)) {
					n++
					break
				}
			}
		}
		return n
	}
	toHuman := func(i int) []byte { // PCMA in, PCMU out
		b := payload(i)
		for j := range b {
			b[j] = g711.Alaw2UlawFrame(b[j])
		}
		return b
	}
	toCaller := func(i int) []byte { // PCMU in, PCMA out
		b := payload(packets + i)
		for j := range b {
			b[j] = g711.Ulaw2AlawFrame(b[j])
		}
		return b
	}
	const enough = packets * 9 / 10
	humanEar.waitUntil(t, "the caller's packets relayed to the human", 5*time.Second, func(h []heard) bool {
		return relayed(h, human0, 0, toHuman) >= enough
	})
	callerEar.waitUntil(t, "the human's packets relayed to the caller", 5*time.Second, func(h []heard) bool {
		return relayed(h, caller0, callerPT, toCaller) >= enough
	})

	// While bridged each side hears only the other: no hold audio, no
	// keepalives, no summary mixed in (a keepalive may have gone just
	// before the bridge was linked).
	for _, side := range []struct {
		name string
		h    []heard
		pt   uint8
		want func(int) []byte
	}{{"human", humanEar.heardSoFar()[human0:], 0, toHuman}, {"caller", callerEar.heardSoFar()[caller0:], callerPT, toCaller}} {
		start := 0
		for start < len(side.h) && relayed(side.h[start:start+1], 0, side.pt, side.want) == 0 {
			start++
		}
		if extra := len(side.h) - start - relayed(side.h[start:], 0, side.pt, side.want); extra != 0 {
			t.Errorf("the %s heard %d packets besides the other side's while bridged", side.name, extra)
		}
	}

	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	leg.Wait(t)
	// Both phones have had their BYE: everything relayed has arrived.
	gotHuman := relayed(humanEar.heardSoFar(), human0, 0, toHuman)
	gotCaller := relayed(callerEar.heardSoFar(), caller0, callerPT, toCaller)
	m, _ := line.logs.waitFor(t, regexp.MustCompile(`msg="bridge ended" call_id=`+regexp.QuoteMeta(callID)+` leg_call_id=\S+ caller_to_leg=(\d+) leg_to_caller=(\d+)`), 0, 10*time.Second)
	ab, _ := strconv.Atoi(m[1])
	ba, _ := strconv.Atoi(m[2])
	t.Logf("heard caller->human %d of %d, human->caller %d of %d; the bridge counted %d and %d", gotHuman, packets, gotCaller, packets, ab, ba)
	if ab < enough || ab > packets || ba < enough || ba > packets {
		t.Errorf("the bridge counted %d packets to the leg and %d to the caller; %d were sent each way", ab, ba, packets)
	}
}
