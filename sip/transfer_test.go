package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// refer sends a REFER to the target and checks it was accepted with 202.
func refer(t *testing.T, h *harness, callID, referTo string) {
	t.Helper()
	status, err := h.ua.Refer(context.Background(), callID, referTo)
	if err != nil || status != 202 {
		t.Fatalf("Refer = %d, %v; want 202, nil", status, err)
	}
}

// TestTransferFollowedToTarget: the transferee accepts the REFER, really
// calls the target (a second sipp), relays 100/180/200 in NOTIFYs, and the
// UA leaves the call with BYE once the transfer completed.
func TestTransferFollowedToTarget(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	rec.hangUpOnSuccess(h.ua)
	target := startSipp(t, "uas_target_answer.xml", "")
	caller := startSipp(t, "uac_transfer_ok.xml", h.addr, "-s", "+31201234567")
	id := rec.expect(t, "answered").callID

	refer(t, h, id, "sip:+31207654321@"+target.Addr())
	rec.expectFinalProgress(t, id, 200, "OK")
	rec.expectEnded(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	target.Wait(t)
	if n := rec.endedCount(id); n != 1 {
		t.Errorf("CallEnded reported %d times", n)
	}
}

// TestTransferBusyThenOK: a failed transfer (486 in the NOTIFY) leaves the
// caller connected; a second REFER in the same call succeeds.
func TestTransferBusyThenOK(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	rec.hangUpOnSuccess(h.ua)
	target := startSipp(t, "uas_target_answer.xml", "", "-set", "ring_ms", "300")
	caller := startSipp(t, "uac_transfer_busy_then_ok.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID

	refer(t, h, id, "sip:+31201111111@127.0.0.1:9")
	rec.expectFinalProgress(t, id, 486, "Busy Here")

	refer(t, h, id, "sip:+31207654321@"+target.Addr())
	rec.expectFinalProgress(t, id, 200, "OK")
	rec.expectEnded(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	target.Wait(t)
}

// TestReferRejected: a REFER answered 603 returns 603; the call stays up.
func TestReferRejected(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_refer_reject.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	status, err := h.ua.Refer(context.Background(), id, "sip:+31207654321@127.0.0.1:9")
	if err != nil || status != 603 {
		t.Fatalf("Refer = %d, %v; want 603, nil", status, err)
	}
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	s.Wait(t)
}

// TestReferTimeout: a REFER nobody answers returns 408 and an error
// wrapping the transaction timeout.
func TestReferTimeout(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.ReferTimeout = time.Second })
	s := startSipp(t, "uac_refer_ignore.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	status, err := h.ua.Refer(context.Background(), id, "sip:+31207654321@127.0.0.1:9")
	if status != 408 || !errors.Is(err, sip.ErrTransactionTimeout) {
		t.Fatalf("Refer = %d, %v; want 408 and a timeout", status, err)
	}
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	s.Wait(t)
}

// TestTransferNoFinalNotify: only "100 Trying" ever comes; the call stays
// up until it is hung up.
func TestTransferNoFinalNotify(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_transfer_no_final.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	refer(t, h, id, "sip:+31207654321@127.0.0.1:9")
	rec.expectProgress(t, id, 100, "Trying")
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	s.Wait(t)
}

// TestCallerHangsUpMidTransfer: the caller's BYE during a transfer ends the
// call with user_hangup.
func TestCallerHangsUpMidTransfer(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_hangup_mid_transfer.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	refer(t, h, id, "sip:+31207654321@127.0.0.1:9")
	// The NOTIFY is answered before its step is reported, and sipp hangs
	// up as soon as it has that answer: the end can be reported first (a
	// fresh clone's run saw it; the core drops a step of a call it no
	// longer holds).
	got := map[string]bool{}
	for range 2 {
		e := rec.next(t)
		switch {
		case e.kind == "progress" && e.callID == id && e.progress.Status == 100:
		case e.kind == "ended" && e.callID == id && e.reason == core.EndCallerHangup:
		default:
			t.Fatalf("got %s, want progress(%s, 100) and ended(%s, %s)", e, id, id, core.EndCallerHangup)
		}
		if got[e.kind] {
			t.Fatalf("%s reported twice", e.kind)
		}
		got[e.kind] = true
	}
	s.Wait(t)
	// The call is gone: Refer says so, Hangup does nothing.
	if _, err := h.ua.Refer(context.Background(), id, "sip:x@127.0.0.1:9"); !core.HasCode(err, core.CodeCallNotActive) {
		t.Errorf("Refer after the end = %v, want call_not_active", err)
	}
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Errorf("Hangup after the end: %v", err)
	}
	rec.expectQuiet(t, 50*time.Millisecond)
}

// TestTransferQuirks: a NOTIFY before the 202, a hold re-INVITE before the
// transferee calls the target, a final "200 Ok" sipfrag ending in a bare LF
// with Subscription-State active, and a NOTIFY after our BYE (answered 200
// and still reported).
func TestTransferQuirks(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	rec.hangUpOnSuccess(h.ua)
	target := startSipp(t, "uas_target_answer.xml", "", "-set", "ring_ms", "0")
	caller := startSipp(t, "uac_notify_before_202.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID

	// The NOTIFY overtakes the 202: it is reported while Refer still waits.
	referred := make(chan error, 1)
	go func() {
		status, err := h.ua.Refer(context.Background(), id, "sip:+31207654321@"+target.Addr())
		if err == nil && status != 202 {
			err = fmt.Errorf("status %d, want 202", status)
		}
		referred <- err
	}()
	rec.expectProgress(t, id, 100, "Trying")
	select {
	case err := <-referred:
		if err != nil {
			t.Fatalf("Refer: %v", err)
		}
	case <-time.After(eventWait):
		t.Fatal("Refer did not return")
	}
	rec.expectProgress(t, id, 200, "Ok")
	// Our BYE and the late NOTIFY cross: both are reported, in either order.
	var ended, late bool
	for range 2 {
		e := rec.next(t)
		switch {
		case e.kind == "ended" && e.callID == id && e.reason == core.EndAssistantHangup:
			ended = true
		case e.kind == "progress" && e.callID == id && e.progress.Status == 200:
			late = true
		default:
			t.Fatalf("unexpected report %s", e)
		}
	}
	if !ended || !late {
		t.Fatalf("ended=%v late NOTIFY=%v", ended, late)
	}
	caller.Wait(t)
	target.Wait(t)
	if !strings.Contains(h.logs.String(), `body="SIP/2.0 200 Ok\n"`) {
		t.Errorf("the final sipfrag did not end in a bare LF (see the NOTIFY bodies in the log)")
	}
}

// TestReferNotActive: Refer on an unknown call, and a refer-to that could
// smuggle a header, are refused without sending anything.
func TestReferNotActive(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	if _, err := h.ua.Refer(context.Background(), "nope", "sip:a@b"); !core.HasCode(err, core.CodeCallNotActive) {
		t.Errorf("Refer(unknown) = %v, want call_not_active", err)
	}
	if err := checkReferTo("sip:a@b>\r\nX-Evil: 1"); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("checkReferTo(smuggling) = %v, want invalid_request", err)
	}
	if err := checkReferTo("http://example.com"); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("checkReferTo(http) = %v, want invalid_request", err)
	}
	for _, ok := range []string{"sip:+31207654321@pbx.example.com:5060;transport=tcp", "sips:alice@example.com", "tel:+31207654321"} {
		if err := checkReferTo(ok); err != nil {
			t.Errorf("checkReferTo(%q) = %v", ok, err)
		}
	}
}
