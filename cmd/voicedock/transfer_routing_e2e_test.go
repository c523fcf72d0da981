//go:build linux

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// toneLevel is the amplitude of the freq component of pcm (8 kHz), by
// the Goertzel algorithm.
func toneLevel(pcm []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / 8000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s1, s2 = float64(x)+c*s1-s2, s1
	}
	return 2 * math.Sqrt(s1*s1+s2*s2-c*s1*s2) / float64(len(pcm))
}

// at is the part of pcm (8 kHz) from a to b.
func at(pcm []int16, a, b time.Duration) []int16 {
	i, j := int(a.Seconds()*8000), int(b.Seconds()*8000)
	return pcm[min(i, len(pcm)):min(j, len(pcm))]
}

// heldWhileRinging runs a bridge transfer to a phone that rings until
// CANCELed, 5 s (ring_timeout_seconds), with extra transfer_call
// arguments, and returns what the caller heard meanwhile: one talkspurt.
// The human's phone gets its CANCEL at the timeout.
func heldWhileRinging(t *testing.T, args map[string]any, env ...string) []int16 {
	t.Helper()
	needESpeak(t) // the fallback message after the timeout
	ear := listenRTP(t)
	leg := sipptest.Start(t, "uas_ring_cancel.xml", "", sipptest.Options{Timeout: 20 * time.Second})
	line := newModesLine(t, leg.Port(), "bridge", env...)
	caller := sipptest.Start(t, "uac_media_wait_bye.xml", line.sipAddr, sipptest.Options{Timeout: 20 * time.Second}, "-s", calledUser, "-set", "rtpport", ear.port())
	callID := line.answered(t)
	args["call_id"], args["destination"], args["ring_timeout_seconds"], args["fallback_message"] = callID, salesNumber, 5, "Sorry."
	res, _ := transferWith(t, line.c, args)
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "did not answer within 5s") {
		t.Fatalf("transfer to a phone that rings on: %s", res.text)
	}
	leg.Wait(t) // CANCEL at the ring timeout
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	said := ear.spurts(t, 10)
	if len(said) < 2 {
		t.Fatalf("the caller heard %d runs of audio, want the hold audio and the fallback message", len(said))
	}
	checkSaid(t, said[len(said)-1], "Sorry.")
	// Hold audio is one talkspurt; a busy machine may cut it in two.
	var pcm []int16
	var d time.Duration
	for _, h := range said[:len(said)-1] {
		pcm, d = append(pcm, h.pcm...), d+h.duration()
	}
	if d < 4500*time.Millisecond || d > 6*time.Second {
		t.Errorf("%s of hold audio while the phone rang 5 s", d)
	}
	return pcm
}

// TestRingbackWhileHumanRings: without hold_audio_url, a caller whose
// bridge transfer is ringing hears the ringback tone (440 Hz + 480 Hz,
// 2 s on, then silence), not silence, until the ring timeout.
func TestRingbackWhileHumanRings(t *testing.T) {
	t.Parallel()
	pcm := heldWhileRinging(t, map[string]any{})
	on, off := at(pcm, 200*time.Millisecond, 1800*time.Millisecond), at(pcm, 2200*time.Millisecond, 3800*time.Millisecond)
	l440, l480, l1k := toneLevel(on, 440), toneLevel(on, 480), toneLevel(on, 1000)
	t.Logf("ringback: 440 Hz %.0f, 480 Hz %.0f, 1 kHz %.0f; rms of the pause %.0f", l440, l480, l1k, audio.RMS(off))
	if l440 < 1500 || l480 < 1500 || l1k > 150 {
		t.Errorf("the first 2 s are not ringback: 440 Hz %.0f, 480 Hz %.0f, 1 kHz %.0f", l440, l480, l1k)
	}
	if r := audio.RMS(off); r > 50 {
		t.Errorf("ringback's pause is not silent (rms %.0f)", r)
	}
}

// TestHoldAudioLooped: with hold_audio_url (a WAV in the audio folder:
// 400 ms of 1 kHz, 400 ms of silence), the caller hears that recording,
// looped, while the human's phone rings.
func TestHoldAudioLooped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tone := make([]int16, 6400)
	for i := range 3200 {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	if err := os.WriteFile(filepath.Join(dir, "hold.wav"), audio.EncodeWAV(audio.PCM{Rate: 8000, Samples: tone}), 0o644); err != nil {
		t.Fatal(err)
	}
	pcm := heldWhileRinging(t, map[string]any{"hold_audio_url": filepath.Join(dir, "hold.wav")}, "VOICEDOCK_AUDIO_DIR="+dir)
	// The recording starts once read (ringback until then): find its
	// first tone, then check five cycles of tone and silence.
	start := -1
	for i := 0; i+160 <= len(pcm); i += 160 {
		if toneLevel(pcm[i:i+160], 1000) > 4000 {
			start = i
			break
		}
	}
	if start < 0 || start > 8000 {
		t.Fatalf("the recording's tone starts at sample %d", start)
	}
	rec := pcm[start:]
	for k := range 5 {
		c := time.Duration(k) * 800 * time.Millisecond
		tone, pause := at(rec, c+40*time.Millisecond, c+360*time.Millisecond), at(rec, c+440*time.Millisecond, c+760*time.Millisecond)
		if l := toneLevel(tone, 1000); l < 4000 || toneLevel(tone, 440) > 150 {
			t.Errorf("cycle %d: the tone is at %.0f, want the recording's 1 kHz", k, l)
		}
		if r := audio.RMS(pause); r > 100 {
			t.Errorf("cycle %d: the recording's pause has rms %.0f", k, r)
		}
	}
}

var identityLog = regexp.MustCompile(`identity from=(\S*) pai=(\S*) diversion=(\S*)`)

// TestCallerIDOnHumanLeg: the human's phone (sipp) sees caller_id in From
// and P-Asserted-Identity: the caller's number with a Diversion from ours,
// another number of ours, our number by default; a number that is not
// ours is refused before anything is dialled.
func TestCallerIDOnHumanLeg(t *testing.T) {
	t.Parallel()
	const second = "+31850835038"
	leg := sipptest.Start(t, "uas_caller_id_leg.xml", "", sipptest.Options{Calls: 3, Timeout: 20 * time.Second})
	line := newModesLine(t, leg.Port(), "bridge")
	var list struct {
		Assistants []struct {
			ID string `json:"id"`
		} `json:"assistants"`
	}
	if err := json.Unmarshal(mustCall(t, line.c, "list_assistants", `{}`).json, &list); err != nil || len(list.Assistants) != 1 {
		t.Fatalf("list_assistants: %v %+v", err, list)
	}
	a := list.Assistants[0].ID
	mustCall(t, line.c, "create_phone_number", `{"phone_number":"`+second+`","assistant_id":"`+a+`"}`)
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{Timeout: 20 * time.Second}, "-s", calledUser)
	callID := line.answered(t)

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "caller_id": "+31201234567"})
	if res.errorCode() != "caller_id_not_allowed" || res.errorParam() != "caller_id" {
		t.Fatalf("caller_id not ours: %s", res.text)
	}
	for _, id := range []string{"caller", second, "number"} {
		res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "caller_id": id, "fallback_message": "Busy."})
		if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "busy") {
			t.Fatalf("caller_id %s: %s", id, res.text)
		}
	}
	leg.Wait(t)
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	got := identityLog.FindAllStringSubmatch(leg.Traces(), -1)
	want := [][3]string{{"+15550100001", "+15550100001", ourNumber}, {second, second, ""}, {ourNumber, ourNumber, ""}}
	if len(got) != len(want) {
		t.Fatalf("the human's phone logged %d calls, want %d (the refused caller_id must not dial)", len(got), len(want))
	}
	for i, w := range want {
		if g := [3]string{got[i][1], got[i][2], got[i][3]}; g != w {
			t.Errorf("call %d: From %s, P-Asserted-Identity %s, Diversion %q; want %s %s %q", i, g[0], g[1], g[2], w[0], w[1], w[2])
		}
	}
}

// TestOnFailureEndCallE2E: a busy human with on_failure end_call: the
// caller hears the message, then the server hangs up (the caller's sipp
// gets the BYE) with end_reason transfer_failed; the webhook has the
// call's final status-update and its end-of-call report, once each.
func TestOnFailureEndCallE2E(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "")
	leg := sipptest.Start(t, "uas_transfer_leg.xml", "", sipptest.Options{Timeout: 20 * time.Second}, "-set", "answer", "busy")
	line := newModesLine(t, leg.Port(), "bridge", "VOICEDOCK_WEBHOOK_URL="+rcv.srv.URL)
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{Timeout: 20 * time.Second}, "-s", calledUser)
	callID := line.answered(t)

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund",
		"on_failure": "end_call", "on_failure_message": "Nobody is free; goodbye."})
	if res.errorCode() != "transfer_failed" {
		t.Fatalf("busy transfer with on_failure end_call: %s", res.text)
	}
	leg.Wait(t)
	caller.Wait(t) // our BYE
	if status, reason := line.ended(t, callID); status != "ended" || reason != "transfer_failed" {
		t.Errorf("call ended %s/%s, want ended/transfer_failed", status, reason)
	}
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if a := transfers[0].Attempts[0]; a.Status != "failed" || a.SIPStatus != 486 {
		t.Errorf("attempt %+v", a)
	}
	events := rcv.waitFor(t, "the end-of-call report", hasEvent("end-of-call-report", ""))
	rcv.waitFor(t, "the final status-update", hasEvent("status-update", "ended"))
	events = rcv.waitFor(t, "everything", func(es []receivedEvent) bool { return len(es) >= len(events) })
	var finals, reports int
	for _, e := range events {
		if e.callID != callID {
			continue
		}
		if e.event == "status-update" && e.status == "ended" {
			finals++
		}
		if e.event == "end-of-call-report" {
			reports++
		}
	}
	if finals != 1 || reports != 1 {
		t.Errorf("%d final status-updates and %d end-of-call reports, want one each", finals, reports)
	}
}

// TestBlindRingTimeoutE2E: a blind transfer (control_call's transfer
// command, which takes the same fields as transfer_call) whose REFER is
// accepted but never reports an answer fails at the destination's ring
// timeout (5 s), not VOICEDOCK_TRANSFER_TIMEOUT (60 s), and the attempt
// shows it.
func TestBlindRingTimeoutE2E(t *testing.T) {
	t.Parallel()
	line := newPhoneLine(t, sipptest.FreePort(t), "VOICEDOCK_TRANSFER_TIMEOUT=60s")
	caller := sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{Timeout: 20 * time.Second}, "-s", calledUser)
	callID := line.answered(t)
	res := call(t, line.c, "control_call", `{"call_id":"`+callID+`","command":{"type":"transfer","destination":"`+salesNumber+`","ring_timeout_seconds":5}}`)
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "did not answer within 5s") {
		t.Fatalf("blind transfer with no final NOTIFY: %s", res.text)
	}
	// Timed from the REFER, by the server's clock: the transfer's message
	// is spoken before it, in real time, and takes longer on a loaded
	// machine. The bounds tell the ring timeout from the 60 s one; the
	// log's times are truncated to the millisecond.
	failed := regexp.MustCompile(`time=(\S+) level=INFO msg="transfer step" call_id=` + regexp.QuoteMeta(callID) + `\b.* status=failed\b`)
	m, _ := line.logs.waitFor(t, failed, 0, 10*time.Second)
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if d := at.Sub(referSent(t, line, callID)); d < 5*time.Second-2*time.Millisecond || d > 20*time.Second {
		t.Errorf("failed %s after the REFER; ring_timeout_seconds is 5", d)
	}
	raw := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	if !strings.Contains(string(raw.json), `"ring_timeout_seconds":5`) {
		t.Errorf("the attempt does not show ring_timeout_seconds 5: %s", raw.json)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestCallerGoneEndsHumanLeg: a caller who hangs up during a warm
// transfer ends the human's leg at once: with a CANCEL while the human's
// phone rings, with a BYE once they have answered (and hear the
// summary). Both phones are sipp; the caller hangs up 2 s after its call
// was answered, the transfer having started meanwhile.
func TestCallerGoneEndsHumanLeg(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, human string }{
		{"ringing", "uas_ring_cancel.xml"},      // expects a CANCEL
		{"answered", "uas_answer_wait_bye.xml"}, // expects a BYE
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			needESpeak(t) // the answered human hears a summary long enough to still be hearing it
			leg := sipptest.Start(t, c.human, "", sipptest.Options{Timeout: 20 * time.Second})
			line := newModesLine(t, leg.Port(), "warm")
			caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{Timeout: 20 * time.Second}, "-s", calledUser, "-d", "2000")
			callID := line.answered(t)
			res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber,
				"summary": strings.Repeat("The customer asks about a refund for an order that arrived damaged. ", 5)})
			if res.errorCode() != "call_not_active" {
				t.Fatalf("transfer of a caller who hung up: %s", res.text)
			}
			caller.Wait(t)
			gone := time.Now()
			leg.Wait(t)
			if d := time.Since(gone); d > 2*time.Second {
				t.Errorf("the human's leg ended %s after the caller hung up", d)
			}
		})
	}
}
