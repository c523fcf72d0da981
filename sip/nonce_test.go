package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestDigestReplayRefused captures a trunk's authenticated INVITE and
// replays its Authorization, from the same address and from another: both
// are refused, and no call is made.
func TestDigestReplayRefused(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	digestTrunk(rec)
	h := startUA(t, rec, nil)
	s := sipptest.Start(t, "uac_digest_auth.xml", h.addr, sipptest.Options{IP: "127.0.0.2"}, "-s", "31201234567", "-au", "trunk", "-ap", "s3cret")
	rec.offer(t)
	captured := rec.offer(t).Authorization
	if captured == "" {
		t.Fatal("the authenticated INVITE carried no Authorization")
	}
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)

	// From the same address: the answer's nonce was used (403).
	r := sipptest.Start(t, "uac_digest_replay.xml", h.addr, sipptest.Options{IP: "127.0.0.2"}, "-s", "31201234567", "-key", "authz", captured)
	if got := rec.offer(t); got.Authorization != captured {
		t.Errorf("the replay reached the core without its Authorization: %+v", got)
	}
	r.Wait(t)
	// From another address: the nonce is not bound to it, so the answer
	// counts as none (401, a fresh challenge).
	r = sipptest.Start(t, "uac_digest_replay.xml", h.addr, sipptest.Options{IP: "127.0.0.3"}, "-s", "31201234567", "-key", "authz", captured)
	if got := rec.offer(t); got.Authorization != "" || got.VerifyDigest != nil {
		t.Errorf("an answer from another address was taken: %+v", got)
	}
	r.Wait(t)
	rec.expectQuiet(t, 100*time.Millisecond)
}

// TestNonceCountsMustRise: an answer may reuse its nonce only with a
// higher nc; one without qop may not reuse it at all.
func TestNonceCountsMustRise(t *testing.T) {
	d, err := newDigestAuth()
	if err != nil {
		t.Fatal(err)
	}
	g, err := newNonceGuard(d.authorize, d.newNonce)
	if err != nil {
		t.Fatal(err)
	}
	if !g.use("n1", 1, true) || g.use("n1", 1, true) || !g.use("n1", 2, true) || g.use("n1", 1, true) {
		t.Error("nc on n1")
	}
	if !g.use("n2", 0, false) || g.use("n2", 0, false) {
		t.Error("a nonce without qop used twice")
	}
	// Forgotten once expired, never before.
	now := time.Now()
	g.now = func() time.Time { return now.Add(nonceLifetime + nonceClockSkew + time.Second) }
	if !g.use("n2", 0, false) {
		t.Error("an expired entry still blocks")
	}
	src := netip.MustParseAddr("127.0.0.2")
	if g.opaque("n", src) == g.opaque("n", netip.MustParseAddr("127.0.0.3")) || g.opaque("n", src) != g.opaque("n", netip.MustParseAddr("::ffff:127.0.0.2")) {
		t.Error("opaque does not bind the address")
	}
}
