package sip

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

func TestInboundCallCallerHangsUp(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_call_hangup.xml", h.addr, "-s", "+31201234567", "-d", "200")
	inv := rec.offer(t)
	if inv.Called != "+31201234567" || inv.Caller != "+15550100001" || inv.Source.String() != s.Addr() || inv.SIPCallID == "" {
		t.Errorf("offer = %+v, want called +31201234567, caller +15550100001, source %s", inv, s.Addr())
	}
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}

func TestInboundHangupSendsBye(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	s.Wait(t)
	// Hanging up again, or an unknown call, is not an error.
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Errorf("second Hangup: %v", err)
	}
	if err := h.ua.Hangup(context.Background(), "nope"); err != nil {
		t.Errorf("Hangup of an unknown call: %v", err)
	}
	rec.expectQuiet(t, 100*time.Millisecond)
	if n := rec.endedCount(id); n != 1 {
		t.Errorf("CallEnded reported %d times", n)
	}
}

func TestInboundOverTCP(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "100", "-t", "t1")
	id := rec.expect(t, "answered").callID
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	s.Wait(t)
}

func TestInboundCancelWhileRinging(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.AnswerDelay = 10 * time.Second })
	s := startSipp(t, "uac_cancel.xml", h.addr, "-s", "100")
	rec.expectEnded(t, "call-1", core.EndCanceled)
	s.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}

// TestInboundCancelWhileOffered: the CANCEL arrives while the core is still
// deciding; the decision's context is cancelled.
func TestInboundCancelWhileOffered(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	rec.decide = func(ctx context.Context, inv core.InboundInvite) core.OfferDecision {
		select {
		case <-ctx.Done():
		case <-time.After(eventWait):
		}
		return core.OfferDecision{CallID: "slow-1", KeepState: true}
	}
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_cancel_early.xml", h.addr, "-s", "100")
	rec.expectEnded(t, "slow-1", core.EndCanceled)
	s.Wait(t)
}

func TestInboundHoldAndResume(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_hold.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
}

// TestInboundRejected: the core's refusal is the answer, and nothing is
// kept: no call, no port, no report.
func TestInboundRejected(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	rec.decide = func(_ context.Context, inv core.InboundInvite) core.OfferDecision {
		switch strings.TrimPrefix(inv.Called, "+") {
		case "404":
			return core.OfferDecision{RejectStatus: 404, RejectReason: "Not Found"}
		case "403":
			return core.OfferDecision{RejectStatus: 403, RejectReason: "Forbidden"}
		case "480":
			return core.OfferDecision{RejectStatus: 480, KeepState: true}
		case "503":
			return core.OfferDecision{RejectStatus: 503, RejectReason: "Service Unavailable"}
		}
		return core.OfferDecision{} // no status: 480
	}
	h := startUA(t, rec, func(c *Config) { c.RetryAfter = 30 * time.Second })
	for _, tc := range []struct {
		called string
		args   []string
	}{
		{"404", []string{"-set", "expect", "404"}},
		{"+403", []string{"-set", "expect", "403"}},
		{"480", []string{"-set", "expect", "480"}},
		{"503", []string{"-set", "expect", "503", "-set", "retry_after", "yes"}},
		{"0", []string{"-set", "expect", "480"}},
	} {
		t.Run(tc.called, func(t *testing.T) {
			t.Parallel()
			s := startSipp(t, "uac_expect_reject.xml", h.addr, append([]string{"-s", tc.called}, tc.args...)...)
			s.Wait(t)
		})
	}
	t.Cleanup(func() {
		if n := h.ua.calls.count(); n != 0 {
			t.Errorf("%d calls kept after refusals", n)
		}
		if n := h.ua.ports.inUseCount(); n != 0 {
			t.Errorf("%d RTP ports kept after refusals", n)
		}
		select {
		case e := <-rec.events:
			t.Errorf("refused calls reported %s", e)
		default:
		}
	})
}

// TestInboundNoCommonCodec: an offer without PCMU or PCMA gets 488 and the
// accepted call is reported failed.
func TestInboundNoCommonCodec(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_expect_reject.xml", h.addr, "-s", "100", "-set", "expect", "488", "-set", "fmts", "18")
	rec.expectEnded(t, "call-1", core.EndFailed)
	s.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}

// TestInboundRTPPortsExhausted: with one RTP port, a second call gets 503
// (with Retry-After) while the first holds it, and the port is free again
// once the first call ends.
func TestInboundRTPPortsExhausted(t *testing.T) {
	t.Parallel()
	port := sipptest.FreePort(t)
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) {
		c.RTPPortMin, c.RTPPortMax = port, port
		c.RetryAfter = 5 * time.Second
	})
	first := startSipp(t, "uac_wait_bye.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	second := startSipp(t, "uac_expect_reject.xml", h.addr, "-s", "100", "-set", "expect", "503", "-set", "retry_after", "yes")
	rec.expectEnded(t, "call-2", core.EndFailed)
	second.Wait(t)
	if err := h.ua.Hangup(context.Background(), id); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, id, core.EndAssistantHangup)
	first.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
	third := startSipp(t, "uac_call_hangup.xml", h.addr, "-s", "100")
	id3 := rec.expect(t, "answered").callID
	rec.expectEnded(t, id3, core.EndCallerHangup)
	third.Wait(t)
}

// TestInboundHangupWhileRinging: Hangup before the answer refuses the call
// with 480 and reports it rejected.
func TestInboundHangupWhileRinging(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	rec.decide = func(context.Context, core.InboundInvite) core.OfferDecision {
		return core.OfferDecision{CallID: "ringing-1", KeepState: true}
	}
	h := startUA(t, rec, func(c *Config) { c.AnswerDelay = 20 * time.Second })
	s := startSipp(t, "uac_expect_reject.xml", h.addr, "-s", "100", "-set", "expect", "480")
	rec.offer(t)
	// The call may not be registered yet: Hangup applies either way.
	if err := h.ua.Hangup(context.Background(), "ringing-1"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, "ringing-1", core.EndRejected)
	s.Wait(t)
}

func TestOptions(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_options.xml", h.addr)
	s.Wait(t)
	rec.expectQuiet(t, 50*time.Millisecond)
}

// TestRequestsForNoDialog: NOTIFY, BYE and INFO for a dialog the UA does not
// have get 481, and nothing is reported.
func TestRequestsForNoDialog(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_notify_no_dialog.xml", h.addr, "-s", "100")
	s.Wait(t)
	rec.expectQuiet(t, 50*time.Millisecond)
}

// TestNotifyErrors: a malformed sipfrag (400), another content type (400),
// another event package (489) and an empty NOTIFY (200) report nothing.
func TestNotifyErrors(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_notify_errors.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
}

// TestInboundInviteFields: the called number is the Request-URI user, else
// the To user, as sent (with or without +), without user parameters.
func TestInboundInviteFields(t *testing.T) {
	t.Parallel()
	parse := func(raw string) *sip.Request {
		t.Helper()
		msg, err := sip.ParseMessage([]byte(strings.ReplaceAll(raw, "\n", "\r\n")))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		req := msg.(*sip.Request)
		req.SetSource("192.0.2.7:5070")
		return req
	}
	for _, tc := range []struct{ name, ruri, to, from, called, caller string }{
		{"plus in R-URI", "sip:+31201234567@pbx", "<sip:other@pbx>", "<sip:+15550001111@carrier>;tag=a", "+31201234567", "+15550001111"},
		{"no plus", "sip:31201234567@pbx;user=phone", "<sip:x@pbx>", "\"Bob\" <sip:bob@carrier>;tag=a", "31201234567", "bob"},
		{"user params", "sip:+31201234567;npdi;rn=123@pbx", "<sip:x@pbx>", "<sip:anon@carrier>;tag=a", "+31201234567", "anon"},
		{"R-URI without user: To", "sip:pbx.example.com", "<sip:+31209999999@pbx>", "<tel:+15550002222>;tag=a", "+31209999999", "+15550002222"},
		{"escaped", "sip:%2B31201234567@pbx", "<sip:x@pbx>", "<sip:a@b>;tag=a", "+31201234567", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := parse("INVITE " + tc.ruri + " SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK1\nFrom: " + tc.from +
				"\nTo: " + tc.to + "\nCall-ID: abc@192.0.2.7\nCSeq: 1 INVITE\nContact: <sip:x@192.0.2.7:5070>\nContent-Length: 0\n\n")
			inv, err := inboundInvite(req)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Called != tc.called || inv.Caller != tc.caller || inv.SIPCallID != "abc@192.0.2.7" || inv.Source.String() != "192.0.2.7:5070" {
				t.Errorf("got %+v, want called %q caller %q", inv, tc.called, tc.caller)
			}
		})
	}
}

// TestStaleNotifyNotReported: a NOTIFY with a lower CSeq than one already
// reported (a "100 Trying" overtaken by the final "486") is answered 200
// and not reported, so the core never sees a transfer step go backwards.
func TestStaleNotifyNotReported(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	s := startSipp(t, "uac_notify_out_of_order.xml", h.addr, "-s", "100")
	// sipp sends its first NOTIFY right after the ACK, so the NOTIFY's
	// report may overtake CallAnswered: take the two in either order.
	var id string
	var progress []core.ReferProgress
	for range 2 {
		switch e := rec.next(t); e.kind {
		case "answered":
			id = e.callID
		case "progress":
			progress = append(progress, e.progress)
		default:
			t.Fatalf("got report %s, want answered and progress", e)
		}
	}
	if id == "" || len(progress) != 1 || progress[0].Status != 486 {
		t.Fatalf("answered %q, progress %+v; want answered and one 486", id, progress)
	}
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
}
