//go:build linux

package main

import (
	"context"
	"encoding/json"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/sip/sipptest"
	"github.com/voicedock/voicedock/speech"
)

// newVoicemailLine is newModesLine whose destination also carries a
// voicemail_action ("" for none).
func newVoicemailLine(t *testing.T, targetPort int, mode, action string) *phoneLine {
	t.Helper()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20e9)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	vm := ""
	if action != "" {
		vm = `,"voicemail_action":"` + action + `"`
	}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","mode":"`+mode+`","caller_id":"caller","sip_headers":{"X-Account":"42"}`+vm+`}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(targetPort)+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	return line
}

// voicemailGreeting is a voicemail box as the server hears it: an
// espeak-ng greeting, a short pause, a 1 kHz beep of 400 ms, then
// silence; at 8 kHz. beepEnd is where the beep stops, in samples.
func voicemailGreeting(t *testing.T) (pcm []int16, beepEnd int) {
	t.Helper()
	p, err := (&speech.ESpeak{}).Synthesize(context.Background(), "Hi, this is John Miller. Please leave a message after the tone.", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	pcm = append(pcm, p.To8k().Samples...)
	pcm = append(pcm, make([]int16, 2400)...) // 300 ms
	for i := range 3200 {                     // 400 ms
		pcm = append(pcm, int16(8000*math.Sin(2*math.Pi*1000*float64(i)/8000)))
	}
	beepEnd = len(pcm)
	return append(pcm, make([]int16, 8000*4)...), beepEnd
}

// playVoicemail plays pcm (PCMU, paced at 20 ms a packet) from the ear's
// socket to where the server's RTP comes from, once its first packet (a
// keepalive) has arrived: the human's phone as a voicemail box. It
// returns when the beep ended was sent; the rest goes on until stop.
type playback struct {
	mu      sync.Mutex
	beepEnd time.Time
	err     string
}

func playVoicemail(ear *rtpEar, pcm []int16, beepEnd int, stop <-chan struct{}) *playback {
	pb := &playback{}
	go func() {
		var to netip.AddrPort
		deadline := time.After(10 * time.Second)
		for !to.IsValid() {
			ear.mu.Lock()
			if len(ear.pkts) > 0 {
				to = ear.pkts[0].from
			}
			if ear.changed == nil {
				ear.changed = make(chan struct{})
			}
			changed := ear.changed
			ear.mu.Unlock()
			if to.IsValid() {
				break
			}
			select {
			case <-changed:
			case <-deadline:
				pb.mu.Lock()
				pb.err = "the server sent the human's phone no RTP within 10 s"
				pb.mu.Unlock()
				return
			case <-stop:
				return
			}
		}
		tick := time.NewTicker(20 * time.Millisecond) // the phone's own clock
		defer tick.Stop()
		payload := make([]byte, 160)
		for i, seq := 0, uint16(1); i+160 <= len(pcm); i, seq = i+160, seq+1 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for j := range payload {
				payload[j] = g711.EncodeUlawFrame(pcm[i+j])
			}
			b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(i), SSRC: 0x5eed}, Payload: payload}).Marshal()
			if _, err := ear.conn.WriteToUDPAddrPort(b, to); err != nil {
				return
			}
			if i < beepEnd && i+160 >= beepEnd {
				pb.mu.Lock()
				pb.beepEnd = time.Now()
				pb.mu.Unlock()
			}
		}
	}()
	return pb
}

func (pb *playback) result(t *testing.T) time.Time {
	t.Helper()
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.err != "" {
		t.Fatal(pb.err)
	}
	return pb.beepEnd
}

// voicemailAttempt is what get_call shows of an attempt's voicemail.
type voicemailAttempt struct {
	Status          string `json:"status"`
	Reason          string `json:"reason"`
	LegStatus       string `json:"leg_status"`
	Bridged         bool   `json:"bridged"`
	VoicemailAction string `json:"voicemail_action"`
	AnsweredBy      string `json:"answered_by"`
}

func voicemailAttempts(t *testing.T, line *phoneLine, callID string) (string, []voicemailAttempt) {
	t.Helper()
	r := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	var out struct {
		Call struct {
			Status    string `json:"status"`
			Transfers []struct {
				Attempts []voicemailAttempt `json:"attempts"`
			} `json:"transfers"`
		} `json:"call"`
	}
	if err := json.Unmarshal(r.json, &out); err != nil || len(out.Call.Transfers) != 1 {
		t.Fatalf("get_call: %v: %s", err, r.json)
	}
	return out.Call.Status, out.Call.Transfers[0].Attempts
}

// TestVoicemailStopOnBridge: a bridge transfer asked (per request) to
// stop at a voicemail box reaches one: the server hears the greeting on
// its own call, hangs it up without bridging the caller to the box, and
// the caller stays with the assistant; the attempt is recorded
// voicemail, answered by a machine.
func TestVoicemailStopOnBridge(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	ear := listenRTP(t)
	leg := sipptest.Start(t, "uas_media_leg.xml", "", sipptest.Options{}, "-set", "rtpport", ear.port())
	line := newVoicemailLine(t, leg.Port(), "bridge", "")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	greeting, beepEnd := voicemailGreeting(t)
	stop := make(chan struct{})
	defer close(stop)
	pb := playVoicemail(ear, greeting, beepEnd, stop)
	start := time.Now()
	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund", "voicemail_action": "stop"})
	took := time.Since(start)
	pb.result(t)
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "voicemail box answered") {
		t.Fatalf("transfer to a voicemail box: %s\n%s", res.text, line.logs)
	}
	leg.Wait(t) // our BYE ended the voicemail box's call
	t.Logf("transfer failed after %s: %s", took, res.text)
	status, attempts := voicemailAttempts(t, line, callID)
	a := attempts[0]
	if status != "in-progress" || a.Status != "voicemail" || a.AnsweredBy != "machine" || a.VoicemailAction != "stop" || a.Bridged {
		t.Fatalf("call %s, attempt %+v", status, a)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestVoicemailLeaveMessageOnWarm: a warm transfer whose destination is
// configured to leave a message reaches a voicemail box: the server waits
// for the beep, says the summary into the box (heard on the human's side
// after the beep, all of it), hangs up, and the caller comes back to the
// assistant; no REFER is sent.
func TestVoicemailLeaveMessageOnWarm(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	const summary = "Customer asks about a refund"
	ear := listenRTP(t)
	leg := sipptest.Start(t, "uas_media_leg.xml", "", sipptest.Options{}, "-set", "rtpport", ear.port())
	line := newVoicemailLine(t, leg.Port(), "warm", "leave_message")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	greeting, beepEnd := voicemailGreeting(t)
	stop := make(chan struct{})
	defer close(stop)
	pb := playVoicemail(ear, greeting, beepEnd, stop)
	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": summary, "fallback_message": "I left them a message."})
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "left as a message") {
		t.Fatalf("transfer to a voicemail box: %s\n%s", res.text, line.logs)
	}
	leg.Wait(t)
	beepAt := pb.result(t)
	if beepAt.IsZero() {
		t.Fatalf("the server hung up before the beep was played\n%s", line.logs)
	}
	// What the server sent the box after the beep, in talkspurts. Its
	// keepalives are single packets; anything from another stream
	// (another SSRC) is counted, not judged.
	pkts := ear.heardSoFar()
	var message []spurt
	var cur *spurt
	other := 0
	for _, h := range pkts {
		if h.pkt.SSRC != pkts[0].pkt.SSRC {
			other++
			continue
		}
		if h.at.Before(beepAt) {
			continue
		}
		if h.pkt.Marker || cur == nil {
			message = append(message, spurt{first: h.at})
			cur = &message[len(message)-1]
		}
		cur.pcm = append(cur.pcm, media.Decode(media.PCMU, h.pkt.Payload)...)
		cur.packets++
		cur.last = h.at
	}
	message = slices.DeleteFunc(message, func(s spurt) bool { return s.packets < 10 })
	for _, s := range message {
		t.Logf("the voicemail box heard %s, %d packets, rms %.0f, from %s (the beep ended %s; %d packets of another stream)", s.duration(), s.packets, audio.RMS(s.pcm), s.first.Format(time.StampMilli), beepAt.Format(time.StampMilli), other)
	}
	if len(message) != 1 {
		t.Fatalf("the voicemail box heard %d runs of audio after the beep, want the summary", len(message))
	}
	checkSaid(t, message[0], summary)
	// The summary is rendered while the greeting plays: it starts as the
	// beep ends (20 ms after it here; rendered only then it took 0.5 to
	// 1.7 s, and the box recorded that silence).
	if d := message[0].first.Sub(beepAt); d > time.Second {
		t.Errorf("the message started %s after the beep", d)
	}
	if strings.Contains(line.logs.String(), `msg="REFER sent"`) {
		t.Error("a REFER went to the caller after a message was left")
	}
	status, attempts := voicemailAttempts(t, line, callID)
	if a := attempts[0]; status != "in-progress" || a.Status != "voicemail" || a.AnsweredBy != "machine" || a.VoicemailAction != "leave_message" {
		t.Fatalf("call %s, attempt %+v", status, a)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestVoicemailActionInCheckDestination: check_destination shows the
// assistant's destination's voicemail_action and the step it adds; a blind
// destination with one is refused with the parameter named.
func TestVoicemailActionInCheckDestination(t *testing.T) {
	t.Parallel()
	line := newVoicemailLine(t, sipptest.FreePort(t), "bridge", "stop")
	a := mustCall(t, line.c, "list_assistants", `{}`)
	var list struct {
		Assistants []struct {
			ID string `json:"id"`
		} `json:"assistants"`
	}
	if err := json.Unmarshal(a.json, &list); err != nil || len(list.Assistants) != 1 {
		t.Fatalf("list_assistants: %v %s", err, a.json)
	}
	r := mustCall(t, line.c, "check_destination", `{"destination":"`+salesNumber+`","assistant_id":"`+list.Assistants[0].ID+`"}`)
	consult, _ := r.structured["consult"].(map[string]any)
	transfer, _ := r.structured["transfer"].(map[string]any)
	steps, _ := json.Marshal(consult["steps"])
	if transfer["mode"] != "bridge" || consult["voicemail_action"] != "stop" || !strings.Contains(string(steps), "listen for a voicemail box") {
		t.Fatalf("check_destination: %s %s", r.text, r.json)
	}
	bad := call(t, line.c, "create_assistant", `{"name":"Blind","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","voicemail_action":"leave_message"}]}]}}`)
	if bad.errorCode() != "invalid_request" || !strings.Contains(bad.text, "voicemail_action") || !strings.Contains(bad.text, "warm or bridge") {
		t.Fatalf("a blind destination with voicemail_action: %s", bad.text)
	}
}
