package sip

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
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
	d, err := newDigestAuth()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	n := d.newNonce(now)
	if ours, fresh := d.checkNonce(n, now.Add(time.Minute)); !ours || !fresh {
		t.Errorf("fresh nonce: ours %v fresh %v", ours, fresh)
	}
	if ours, fresh := d.checkNonce(n, now.Add(nonceLifetime+time.Second)); !ours || fresh {
		t.Errorf("old nonce: ours %v fresh %v", ours, fresh)
	}
	forged := n[:16] + "00000000000000000000000000000000"
	if ours, _ := d.checkNonce(forged, now); ours {
		t.Error("forged nonce accepted")
	}
	other, err := newDigestAuth()
	if err != nil {
		t.Fatal(err)
	}
	if ours, _ := other.checkNonce(n, now); ours {
		t.Error("another user agent's nonce accepted")
	}
	for _, alg := range []string{"MD5", "SHA-256", ""} {
		for _, qop := range []string{"", "auth"} {
			chal := &digest.Challenge{Realm: digestRealm, Nonce: n, Algorithm: alg}
			if qop != "" {
				chal.QOP = []string{qop}
			}
			cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:100@127.0.0.1", Username: "trunk", Password: "s3cret"})
			if err != nil {
				t.Fatal(err)
			}
			if !verifyDigest(cred, "INVITE", "trunk", "s3cret") {
				t.Errorf("%s qop %q: right password refused", alg, qop)
			}
			if verifyDigest(cred, "INVITE", "trunk", "other") || verifyDigest(cred, "INVITE", "other", "s3cret") || verifyDigest(cred, "BYE", "trunk", "s3cret") {
				t.Errorf("%s qop %q: wrong credentials or method accepted", alg, qop)
			}
		}
	}
}

// An answer is bound to the Request-URI it was computed for: the same
// credentials for another URI are not handed to the core to verify.
func TestDigestAnswerForAnotherURIRefused(t *testing.T) {
	d, err := newDigestAuth()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	chal := &digest.Challenge{Realm: digestRealm, Nonce: d.newNonce(now), Algorithm: digestChallengeAlgorithm, QOP: []string{"auth"}}
	target := sip.Uri{Scheme: "sip", User: "31201234567", Host: "127.0.0.1", Port: 5060}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{target.String(), true},
		{"sip:31201234567@127.0.0.1:5060;transport=udp", true},
		{"sip:31209999999@127.0.0.1:5060", false},
		{"sip:31201234567@127.0.0.9:5060", false},
		{"sip:31201234567@127.0.0.1", false},
		{"not a uri", false},
	} {
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: tc.uri, Username: "trunk", Password: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		req := sip.NewRequest(sip.INVITE, target)
		req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
		var inv core.InboundInvite
		if stale := d.authorize(req, &inv, now); stale {
			t.Errorf("uri %q: stale", tc.uri)
		}
		got := inv.VerifyDigest != nil && inv.VerifyDigest("trunk", "s3cret")
		if got != tc.want {
			t.Errorf("uri %q for Request-URI %s: verified %v, want %v", tc.uri, target.String(), got, tc.want)
		}
	}
}

// FuzzDigestAuthorize: whatever a stranger puts in Authorization, the
// check neither panics nor lets anything through but an answer computed
// with the password for this Request-URI.
func FuzzDigestAuthorize(f *testing.F) {
	d, err := newDigestAuth()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	nonce := d.newNonce(now)
	target := sip.Uri{Scheme: "sip", User: "31201234567", Host: "127.0.0.1", Port: 5060}
	good, err := digest.Digest(&digest.Challenge{Realm: digestRealm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "INVITE", URI: target.String(), Username: "trunk", Password: "s3cret"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good.String())
	f.Add(`Digest username="trunk", realm="voicedock", nonce="` + nonce + `", uri="sip:x@y", response="00", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="a"`)
	f.Add(`Digest realm=voicedock,nonce=,uri="`)
	f.Add("Basic dHJ1bms6czNjcmV0")
	f.Fuzz(func(t *testing.T, header string) {
		req := sip.NewRequest(sip.INVITE, target)
		req.AppendHeader(sip.NewHeader("Authorization", header))
		var inv core.InboundInvite
		d.authorize(req, &inv, now)
		if inv.VerifyDigest == nil {
			return
		}
		cred, err := digest.ParseCredentials(header)
		if err != nil {
			t.Fatalf("verifiable without parsing: %q", header)
		}
		if inv.VerifyDigest("trunk", "s3cret") && !sameRequestURI(cred.URI, target) {
			t.Fatalf("accepted an answer for another URI: %q", header)
		}
		if inv.VerifyDigest("trunk", "wrong") {
			t.Fatalf("accepted a wrong password: %q", header)
		}
	})
}
