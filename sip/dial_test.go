package sip

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// outbound is a dial through the trunk sipp listens as.
func outbound(id string, trunk *sipptest.Process, user, pass string) core.OutboundDial {
	return core.OutboundDial{
		CallID: id,
		To:     fmt.Sprintf("sip:+31207654321@127.0.0.1:%d", trunk.Port()),
		From:   "+15550001111",
		Trunk: core.Trunk{ID: "trunk-1", TrunkConfig: core.TrunkConfig{
			Name: "test", Host: "127.0.0.1", Port: trunk.Port(), Transport: core.TransportUDP,
			Username: user, Password: pass,
		}},
	}
}

// dialErr checks that err is a *core.Error with the code and SIP status.
func dialErr(t *testing.T, err error, code core.Code, status int) {
	t.Helper()
	var e *core.Error
	if !errors.As(err, &e) || e.Code != code || e.SIPStatus != status {
		t.Fatalf("Dial = %v (%#v), want %s with SIP status %d", err, e, code, status)
	}
}

// TestDialDigest407: the trunk challenges with 407; the INVITE is resent
// with Proxy-Authorization, answered, and later hung up by us.
func TestDialDigest407(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	trunk := startSipp(t, "uas_trunk_digest.xml", "")
	if err := h.ua.Dial(context.Background(), outbound("out-1", trunk, "voicedock", "secret")); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	rec.expect(t, "answered")
	if err := h.ua.Hangup(context.Background(), "out-1"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, "out-1", core.EndAssistantHangup)
	trunk.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}

// TestDialDigest401TrunkHangsUp: a 401 challenge whose answer sipp verifies
// (verifyauth), then the far side hangs up.
func TestDialDigest401TrunkHangsUp(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	trunk := startSipp(t, "uas_trunk_digest.xml", "", "-set", "challenge", "401", "-set", "hangup", "trunk", "-set", "user", "acme", "-set", "pass", "s3cret")
	if err := h.ua.Dial(context.Background(), outbound("out-2", trunk, "acme", "s3cret")); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	rec.expect(t, "answered")
	rec.expectEnded(t, "out-2", core.EndCallerHangup)
	trunk.Wait(t)
}

// TestDialWrongPassword: the trunk refuses bad credentials with 403.
func TestDialWrongPassword(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	trunk := startSipp(t, "uas_trunk_digest.xml", "", "-set", "challenge", "401", "-set", "expect_auth", "bad")
	err := h.ua.Dial(context.Background(), outbound("out-3", trunk, "voicedock", "wrong"))
	dialErr(t, err, core.CodeTransferFailed, 403)
	rec.expectEnded(t, "out-3", core.EndRejected)
	trunk.Wait(t)
}

// TestDialBusy: a final 486 fails the dial with that status.
func TestDialBusy(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	trunk := startSipp(t, "uas_trunk_reject.xml", "")
	err := h.ua.Dial(context.Background(), outbound("out-4", trunk, "", ""))
	dialErr(t, err, core.CodeTransferFailed, 486)
	rec.expectEnded(t, "out-4", core.EndRejected)
	trunk.Wait(t)
	if n := h.ua.ports.inUseCount(); n != 0 {
		t.Errorf("%d RTP ports still reserved", n)
	}
}

// TestDialNoAnswer: when ctx ends while it rings, the INVITE is cancelled.
func TestDialNoAnswer(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	trunk := startSipp(t, "uas_ring_cancel.xml", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := h.ua.Dial(ctx, outbound("out-5", trunk, "", ""))
	dialErr(t, err, core.CodeUnavailable, 487)
	rec.expectEnded(t, "out-5", core.EndNoAnswer)
	trunk.Wait(t)
}

// TestDialThenTransfer: an outbound call is held like an inbound one: a
// REFER in its dialog, the NOTIFY reported, then our BYE.
func TestDialThenTransfer(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	rec.hangUpOnSuccess(h.ua)
	callee := startSipp(t, "uas_answer_refer.xml", "")
	if err := h.ua.Dial(context.Background(), outbound("out-6", callee, "", "")); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	rec.expect(t, "answered")
	refer(t, h, "out-6", "sip:+31209999999@127.0.0.1:9")
	rec.expectProgress(t, "out-6", 200, "OK")
	rec.expectEnded(t, "out-6", core.EndAssistantHangup)
	callee.Wait(t)
}

// TestDialRefused: bad input and transports we do not serve fail at once.
func TestDialRefused(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.Transports = []string{"udp"} })
	d := core.OutboundDial{CallID: "x", To: "sip:1@127.0.0.1:9", Trunk: core.Trunk{TrunkConfig: core.TrunkConfig{Host: "127.0.0.1", Port: 9, Transport: "tcp"}}}
	dialErr(t, h.ua.Dial(context.Background(), d), core.CodeUnavailable, 503)
	d.To = "not a uri"
	if err := h.ua.Dial(context.Background(), d); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("Dial(bad uri) = %v, want invalid_request", err)
	}
	d.CallID = ""
	if err := h.ua.Dial(context.Background(), d); !core.HasCode(err, core.CodeMissingField) {
		t.Errorf("Dial(no id) = %v, want missing_field", err)
	}
	rec.expectQuiet(t, 50*time.Millisecond)
}

// TestDialAtMaxCalls: with MaxCalls 1 and a call up, Dial is refused
// overloaded with a retry hint before anything is sent, and the call that
// is up stays up; once it has ended there is room again.
func TestDialAtMaxCalls(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, func(c *Config) { c.MaxCalls = 1 })
	trunk := startSipp(t, "uas_trunk_digest.xml", "")
	if err := h.ua.Dial(context.Background(), outbound("cap-1", trunk, "voicedock", "secret")); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	rec.expect(t, "answered")
	err := h.ua.Dial(context.Background(), outbound("cap-2", trunk, "voicedock", "secret"))
	var e *core.Error
	if !errors.As(err, &e) || e.Code != core.CodeOverloaded || e.RetryAfter < 1 {
		t.Fatalf("Dial beyond MaxCalls = %v (%#v), want overloaded with retry_after", err, e)
	}
	if n := h.ua.calls.count(); n != 1 {
		t.Fatalf("%d calls held after the refusal, want the one up", n)
	}
	if err := h.ua.Hangup(context.Background(), "cap-1"); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	rec.expectEnded(t, "cap-1", core.EndAssistantHangup)
	trunk.Wait(t)
	if !h.ua.admit() {
		t.Fatal("no room for a call after the only one ended")
	}
	h.ua.admitted()
}
