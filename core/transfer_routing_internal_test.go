package core

import "testing"

// TestRoutingPrecedence: a request's value wins over the destination's,
// whichever name its ring timeout uses; within one, ring_timeout_seconds
// wins over dial_timeout.
func TestRoutingPrecedence(t *testing.T) {
	dest := Destination{Type: DestinationNumber, Number: "+31612345678", Mode: ModeWarm, TransferRouting: TransferRouting{
		CallerID: CallerIDCaller, HoldAudioURL: "https://example.com/a.wav", DialTimeout: 15, RingTimeoutSeconds: 25,
		OnFailure: OnFailureEndCall, OnFailureMessage: "Bye.",
	}}
	for _, c := range []struct {
		req        TransferRouting
		ring       int
		callerID   string
		onFailure  string
		hold, said string
	}{
		{TransferRouting{}, 25, CallerIDCaller, OnFailureEndCall, "https://example.com/a.wav", "Bye."},
		{TransferRouting{DialTimeout: 10}, 10, CallerIDCaller, OnFailureEndCall, "https://example.com/a.wav", "Bye."},
		{TransferRouting{DialTimeout: 10, RingTimeoutSeconds: 60, CallerID: CallerIDNumber, OnFailure: OnFailureNext, HoldAudioURL: "/srv/b.wav", OnFailureMessage: "Hi."},
			60, CallerIDNumber, OnFailureNext, "/srv/b.wav", "Hi."},
	} {
		p, err := planAttempt("destination", TransferRequest{Routing: c.req}, dest, &dest)
		if err != nil {
			t.Fatal(err)
		}
		if p.ringSeconds != c.ring || p.callerID != c.callerID || p.onFailure != c.onFailure || p.holdAudioURL != c.hold || p.onFailureMessage != c.said {
			t.Errorf("request %+v: plan ring %d caller_id %s on_failure %s hold %s message %q", c.req, p.ringSeconds, p.callerID, p.onFailure, p.holdAudioURL, p.onFailureMessage)
		}
	}
	if k := failureKind(486, false); k != "busy" {
		t.Errorf("486 is %q", k)
	}
	if k := failureKind(404, false); k != "" {
		t.Errorf("404 is %q: on_failure must not apply", k)
	}
}
