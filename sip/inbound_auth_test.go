package sip

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// digestTrunk decides as the core does for a number whose trunk has
// inbound_auth digest with credentials trunk/s3cret: challenge without
// credentials, 403 with wrong ones.
func digestTrunk(rec *recorder) {
	rec.decide = func(ctx context.Context, inv core.InboundInvite) core.OfferDecision {
		if inv.Authorization == "" || inv.VerifyDigest == nil {
			return core.OfferDecision{RejectStatus: 401, RejectReason: "Unauthorized", Challenge: true}
		}
		if !inv.VerifyDigest("trunk", "s3cret") {
			return core.OfferDecision{RejectStatus: 403, RejectReason: "Forbidden"}
		}
		return core.OfferDecision{CallID: fmt.Sprintf("call-%d", rec.seq.Add(1)), KeepState: true}
	}
}

func TestInboundDigestAuth(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	digestTrunk(rec)
	h := startUA(t, rec, nil)
	s := sipptest.Start(t, "uac_digest_auth.xml", h.addr, sipptest.Options{IP: "127.0.0.2"}, "-s", "31201234567", "-au", "trunk", "-ap", "s3cret")
	if first := rec.offer(t); first.Authorization != "" {
		t.Errorf("first INVITE carried credentials: %q", first.Authorization)
	}
	if second := rec.offer(t); second.Authorization == "" || second.Source.Addr().String() != "127.0.0.2" {
		t.Errorf("second INVITE: %+v", second)
	}
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
}

func TestInboundDigestWrongPassword(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	digestTrunk(rec)
	h := startUA(t, rec, nil)
	s := sipptest.Start(t, "uac_digest_wrong.xml", h.addr, sipptest.Options{IP: "127.0.0.2"}, "-s", "31201234567", "-au", "trunk", "-ap", "wrong")
	s.Wait(t)
	rec.expectQuiet(t, 100*time.Millisecond)
	registryEmpty(t, h.ua)
}

func TestDigestNonceAndResponse(t *testing.T) {
	now := time.Now()
	n := newNonce(now)
	if ours, fresh := checkNonce(n, now.Add(time.Minute)); !ours || !fresh {
		t.Errorf("fresh nonce: ours %v fresh %v", ours, fresh)
	}
	if ours, fresh := checkNonce(n, now.Add(nonceLifetime+time.Second)); !ours || fresh {
		t.Errorf("old nonce: ours %v fresh %v", ours, fresh)
	}
	forged := n[:16] + "00000000000000000000000000000000"
	if ours, _ := checkNonce(forged, now); ours {
		t.Error("forged nonce accepted")
	}
	for _, qop := range []string{"", "auth"} {
		chal := &digest.Challenge{Realm: digestRealm, Nonce: n, Algorithm: "MD5"}
		if qop != "" {
			chal.QOP = []string{qop}
		}
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:100@127.0.0.1", Username: "trunk", Password: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		if !verifyDigest(cred, "INVITE", "trunk", "s3cret") {
			t.Errorf("qop %q: right password refused", qop)
		}
		if verifyDigest(cred, "INVITE", "trunk", "other") || verifyDigest(cred, "INVITE", "other", "s3cret") || verifyDigest(cred, "BYE", "trunk", "s3cret") {
			t.Errorf("qop %q: wrong credentials or method accepted", qop)
		}
	}
}
