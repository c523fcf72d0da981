//go:build linux

package main

import (
	"context"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// The human's phone in these tests (uas_consult_leg.xml) answers with
// telephone-event on this payload type.
const humanTE = 101

const consultSummary = "Customer asks about a refund"

// newConsultLine is a running server whose assistant transfers to
// salesNumber through the trunk at trunkPort in mode, with the
// destination's extra fields (JSON, starting with a comma), and to the
// desk, sip:desk@127.0.0.1:deskPort (bridge), when deskPort is not 0. It
// returns the line and the assistant's id.
func newConsultLine(t *testing.T, trunkPort, deskPort int, mode, extra string, env ...string) (*phoneLine, string) {
	t.Helper()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), env...)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	desk := ""
	if deskPort != 0 {
		desk = `,{"type":"sip","sip_uri":"sip:desk@127.0.0.1:` + strconv.Itoa(deskPort) + `","description":"the desk","mode":"bridge"}`
	}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","mode":"`+mode+`"`+extra+`}`+desk+`]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(trunkPort)+`}`)
	id := field(a, "assistant", "id")
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+id+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	return line, id
}

// await waits until ok holds for the packets heard so far, checking
// again on each packet and every 50 ms (ok may depend on the time: "no
// packet for 300 ms"); false when ctx ends first.
func (e *rtpEar) await(ctx context.Context, ok func([]heard) bool) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		e.mu.Lock()
		pkts := append([]heard(nil), e.pkts...)
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		changed := e.changed
		e.mu.Unlock()
		if ok(pkts) {
			return true
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
}

// audioRun is a run of audio packets from the server: a message.
type audioRun struct {
	first, last time.Time
	packets     int
	pcm         []int16
}

// audioRuns splits the audio the ear heard (not telephone-events, not
// single keepalive packets) into runs, each started by the marker bit.
func audioRuns(h []heard) []audioRun {
	var out []audioRun
	var cur *audioRun
	flush := func() {
		if cur != nil && cur.packets >= 10 {
			out = append(out, *cur)
		}
		cur = nil
	}
	for _, p := range h {
		if p.pkt.PayloadType == humanTE || len(p.pkt.Payload) != 160 {
			continue
		}
		if p.pkt.Marker || cur == nil {
			flush()
			cur = &audioRun{first: p.at}
		}
		cur.pcm = append(cur.pcm, media.Decode(media.PCMU, p.pkt.Payload)...)
		cur.packets++
		cur.last = p.at
	}
	flush()
	return out
}

// keyPress is one RFC 4733 event the ear heard.
type keyPress struct {
	key         string
	first, last time.Time // its first packet, its last end packet
	marker      bool      // on its first packet
	ends        int       // end packets (with the E bit)
	duration    int       // as the end packets say, in samples
}

// keyPresses decodes the telephone-events the ear heard, one per event
// timestamp, in order.
func keyPresses(h []heard) []keyPress {
	var out []keyPress
	index := map[uint32]int{}
	for _, p := range h {
		if p.pkt.PayloadType != humanTE || len(p.pkt.Payload) < 4 {
			continue
		}
		i, ok := index[p.pkt.Timestamp]
		if !ok {
			i = len(out)
			index[p.pkt.Timestamp] = i
			out = append(out, keyPress{key: string("0123456789*#ABCD"[p.pkt.Payload[0]&15]), first: p.at, marker: p.pkt.Marker})
		}
		k := &out[i]
		k.last = p.at
		if p.pkt.Payload[1]&0x80 != 0 {
			k.ends++
			k.duration = int(p.pkt.Payload[2])<<8 | int(p.pkt.Payload[3])
		}
	}
	return out
}

// pressKey sends key as RFC 4733 telephone-events from the ear to the
// server's leg, as a phone does: 100 ms of tone, then three end packets.
func (e *rtpEar) pressKey(to netip.AddrPort, key byte) error {
	ev := byte(strings.IndexByte("0123456789*#", key))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i <= 8; i++ {
		<-tick.C
		dur := min(i, 5) * 160
		flags := byte(10)
		if i > 5 {
			flags |= 0x80
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 1, PayloadType: humanTE, SequenceNumber: uint16(7000 + i), Timestamp: 48000, SSRC: 0x4B3A5},
			Payload: []byte{ev, flags, byte(dur >> 8), byte(dur)}}
		b, err := p.Marshal()
		if err != nil {
			return err
		}
		if _, err := e.conn.WriteToUDPAddrPort(b, to); err != nil {
			return err
		}
	}
	return nil
}

// promptHeard holds once the ear has heard two messages (the summary and
// the accept prompt) and nothing for 300 ms since.
func promptHeard(h []heard) bool {
	runs := audioRuns(h)
	return len(runs) >= 2 && time.Since(runs[len(runs)-1].last) > 300*time.Millisecond
}

// TestConsultExtensionThenAccept: a bridge transfer to a destination with
// an extension and require_accept. Once the human's phone answers it
// receives the extension as RFC 4733 events (1, a half-second pause, 2,
// #), then hears the summary and the accept prompt; only when it presses
// 1 (RFC 4733) is the caller put through.
func TestConsultExtensionThenAccept(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	const prompt = "Press 1 to take the call."
	human := listenRTP(t)
	leg := sipptest.Start(t, "uas_consult_leg.xml", "", sipptest.Options{}, "-set", "rtpport", human.port())
	line, _ := newConsultLine(t, leg.Port(), 0, "bridge", `,"extension":"1w2#","require_accept":true,"accept_prompt":"`+prompt+`"`)
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	// The human: listens to the summary and the prompt, then presses 1.
	pressed := make(chan time.Time, 1)
	go func() {
		defer close(pressed)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if !human.await(ctx, promptHeard) {
			return
		}
		at := time.Now()
		if human.pressKey(human.heardSoFar()[0].from, '1') == nil {
			pressed <- at
		}
	}()
	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": consultSummary})
	if res.isError {
		t.Fatalf("transfer: %s\n%s", res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	at, ok := <-pressed
	if !ok {
		t.Fatalf("the human never heard the summary and the prompt: %d packets", len(human.heardSoFar()))
	}
	connected, _ := line.logs.waitFor(t, regexp.MustCompile(`time=(\S+) level=INFO msg="the human accepted the call" call_id=`+regexp.QuoteMeta(callID)), 0, 5*time.Second)
	if acc, err := time.Parse(time.RFC3339Nano, connected[1]); err != nil || acc.Before(at.Truncate(time.Millisecond)) {
		t.Errorf("accepted at %s, before the human pressed 1 at %s", connected[1], at.Format(time.StampMilli))
	}

	heard := human.heardSoFar()
	keys := keyPresses(heard)
	runs := audioRuns(heard)
	var got []string
	for _, k := range keys {
		got = append(got, k.key)
		t.Logf("key %s: %s-%s, marker %t, %d end packets, %d samples", k.key, k.first.Format(time.StampMilli), k.last.Format(time.StampMilli), k.marker, k.ends, k.duration)
	}
	if strings.Join(got, "") != "12#" {
		t.Fatalf("the human's phone received the keys %q, want 1 2 #", got)
	}
	for _, k := range keys {
		if !k.marker || k.ends != 3 || k.duration != 800 {
			t.Errorf("key %s: marker %t, %d end packets, duration %d samples; want a marker, 3 end packets, 800 samples (100 ms)", k.key, k.marker, k.ends, k.duration)
		}
	}
	if gap := keys[1].first.Sub(keys[0].last); gap < 450*time.Millisecond {
		t.Errorf("w paused %s between 1 and 2, want half a second", gap)
	}
	// Compared, not bounded: the machine's load lengthens both.
	if gap, w := keys[2].first.Sub(keys[1].last), keys[1].first.Sub(keys[0].last); gap >= w {
		t.Errorf("%s between 2 and # (no w), %s between 1 and 2 (w)", gap, w)
	}
	if len(runs) < 2 {
		t.Fatalf("the human heard %d messages, want the summary and the prompt", len(runs))
	}
	if !runs[0].first.After(keys[2].last) {
		t.Errorf("the summary started at %s, before the extension was dialled (%s)", runs[0].first.Format(time.StampMilli), keys[2].last.Format(time.StampMilli))
	}
	checkSaid(t, spurt{first: runs[0].first, last: runs[0].last, packets: runs[0].packets, pcm: runs[0].pcm}, consultSummary)
	checkSaid(t, spurt{first: runs[1].first, last: runs[1].last, packets: runs[1].packets, pcm: runs[1].pcm}, prompt)

	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if a := transfers[0].Attempts[0]; a.Status != "completed" || !a.Bridged || a.LegStatus != "answered" {
		t.Errorf("attempt on record: %+v", a)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	leg.Wait(t)
}

// TestConsultDeclinedTriesNextDestination: the human presses 2 (a SIP
// INFO on the server's call to them) instead of 1: that attempt is
// recorded declined, their call is hung up, and the next destination
// (the desk, which requires nothing) gets the caller.
func TestConsultDeclinedTriesNextDestination(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	human, deskEar := listenRTP(t), listenRTP(t)
	leg := sipptest.Start(t, "uas_consult_leg.xml", "", sipptest.Options{}, "-set", "rtpport", human.port(), "-set", "key", "2", "-set", "info_ms", "1500")
	desk := sipptest.Start(t, "uas_consult_leg.xml", "", sipptest.Options{}, "-set", "rtpport", deskEar.port())
	line, _ := newConsultLine(t, leg.Port(), desk.Port(), "bridge", `,"require_accept":true`)
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	deskURI := "sip:desk@127.0.0.1:" + strconv.Itoa(desk.Port())

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "fallback_destinations": []string{deskURI}, "summary": consultSummary})
	if res.isError {
		t.Fatalf("transfer: %s\n%s", res.text, line.logs)
	}
	leg.Wait(t) // the declining human's call was hung up
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	tr := transfers[0]
	if tr.Status != "completed" || tr.Attempt != 2 || len(tr.Attempts) != 2 {
		t.Fatalf("transfer on record: %+v", tr)
	}
	if a := tr.Attempts[0]; a.Status != "declined" || !strings.Contains(a.Reason, "pressed 2") || a.LegStatus != "ended" || a.Bridged {
		t.Errorf("declined attempt: %+v", a)
	}
	if b := tr.Attempts[1]; b.Destination != deskURI || b.Status != "completed" || !b.Bridged {
		t.Errorf("second attempt: %+v", b)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	desk.Wait(t)
}

// TestConsultNoKeyBackToAssistant: the human hears the summary and the
// prompt and presses nothing: after accept_timeout_seconds the attempt is
// declined, their call hung up, and the caller, with no destination left,
// hears the fallback message and stays with the assistant.
func TestConsultNoKeyBackToAssistant(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	const sorry = "Nobody is free."
	human := listenRTP(t)
	leg := sipptest.Start(t, "uas_consult_leg.xml", "", sipptest.Options{}, "-set", "rtpport", human.port())
	line, _ := newConsultLine(t, leg.Port(), 0, "warm", `,"require_accept":true,"accept_timeout_seconds":3,"accept_prompt":"Press 1."`)
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "A refund.", "fallback_message": sorry})
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "no key within 3s") {
		t.Fatalf("unaccepted transfer: %s", res.text)
	}
	leg.Wait(t) // its call was hung up
	if runs := audioRuns(human.heardSoFar()); len(runs) != 2 {
		t.Errorf("the human heard %d messages, want the summary and the prompt", len(runs))
	} else {
		checkSaid(t, spurt{first: runs[1].first, last: runs[1].last, packets: runs[1].packets, pcm: runs[1].pcm}, "Press 1.")
	}
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("the call is %s; the caller must stay with the assistant", s)
	}
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if a := transfers[0].Attempts[0]; a.Status != "declined" || a.Mode != "warm" || a.LegStatus != "ended" || a.Bridged {
		t.Errorf("attempt on record: %+v", a)
	}
	if tx := mustCall(t, line.c, "get_transcript", `{"call_id":"`+callID+`"}`); !strings.Contains(string(tx.json), sorry) {
		t.Errorf("the caller was not told the fallback message: %s", tx.json)
	}
	if strings.Contains(line.logs.String(), "REFER sent") {
		t.Error("a REFER went out although the human did not accept")
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// humanVoice is caller_human.wav as PCMU frames: a person speaking.
func humanVoice(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/sipp/caller_human.wav")
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := audio.DecodeWAV(b, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := pcm.To8k().Samples
	var out [][]byte
	for i := 0; i+160 <= len(s); i += 160 {
		f := make([]byte, 160)
		for j := range f {
			f[j] = g711.EncodeUlawFrame(s[i+j])
		}
		out = append(out, f)
	}
	return out
}

// TestConsultWaitsForHumanSpeech: with wait_for_human_speech the summary
// is held back until the human says something (a second after answering
// here), and played anyway after human_speech_timeout_seconds when they
// stay silent.
func TestConsultWaitsForHumanSpeech(t *testing.T) {
	needESpeak(t)
	t.Run("speaking", func(t *testing.T) { testConsultWaitsForHumanSpeech(t, true) })
	t.Run("silent", func(t *testing.T) { testConsultWaitsForHumanSpeech(t, false) })
}

func testConsultWaitsForHumanSpeech(t *testing.T, speaks bool) {
	t.Parallel()
	voice := humanVoice(t)
	human := listenRTP(t)
	leg := sipptest.Start(t, "uas_consult_leg.xml", "", sipptest.Options{}, "-set", "rtpport", human.port())
	// Keepalives tell the human's phone where the server's RTP is before
	// anything is said.
	line, _ := newConsultLine(t, leg.Port(), 0, "bridge", `,"wait_for_human_speech":true,"human_speech_timeout_seconds":2`, "VOICEDOCK_RTP_KEEPALIVE=100ms")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	spoke := make(chan time.Time, 1)
	go func() {
		defer close(spoke)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if !speaks || !human.await(ctx, func(h []heard) bool { return len(h) > 0 }) {
			return
		}
		to := human.heardSoFar()[0].from
		// The human says hello a second after picking up.
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i, f := range voice[:min(len(voice), 75)] {
			<-tick.C
			if i == 0 {
				spoke <- time.Now()
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 0, PayloadType: 0, SequenceNumber: uint16(3000 + i), Timestamp: uint32(160 * i), SSRC: 0x4B3A6}, Payload: f}
			b, _ := p.Marshal()
			if _, err := human.conn.WriteToUDPAddrPort(b, to); err != nil {
				return
			}
		}
	}()
	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": consultSummary})
	if res.isError {
		t.Fatalf("transfer: %s\n%s", res.text, line.logs)
	}
	heard := human.heardSoFar()
	if len(heard) == 0 {
		t.Fatal("the human's phone heard nothing")
	}
	answered := heard[0].at // the first keepalive, just after the answer
	var summaryAt time.Time
	for _, h := range heard {
		if h.pkt.PayloadType == 0 && audio.RMS(media.Decode(media.PCMU, h.pkt.Payload)) > 300 {
			summaryAt = h.at
			break
		}
	}
	if summaryAt.IsZero() {
		t.Fatal("the human never heard the summary")
	}
	t.Logf("answered %s, summary from %s", answered.Format(time.StampMilli), summaryAt.Format(time.StampMilli))
	if speaks {
		at, ok := <-spoke
		if !ok {
			t.Fatal("the human never spoke")
		}
		t.Logf("the human spoke from %s", at.Format(time.StampMilli))
		if !summaryAt.After(at) || summaryAt.Sub(at) > 1500*time.Millisecond {
			t.Errorf("the summary started %s after the human started speaking; want just after", summaryAt.Sub(at))
		}
		line.logs.waitFor(t, regexp.MustCompile(`msg="the human spoke first" call_id=`+regexp.QuoteMeta(callID)), 0, 5*time.Second)
	} else {
		if d := summaryAt.Sub(answered); d < 1800*time.Millisecond || d > 3500*time.Millisecond {
			t.Errorf("the summary started %s after the answer; want the 2 s timeout", d)
		}
		line.logs.waitFor(t, regexp.MustCompile(`msg="the human did not speak; telling them who is calling anyway" call_id=`+regexp.QuoteMeta(callID)), 0, 5*time.Second)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	leg.Wait(t)
}
