package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

func trunkAt(port int, user, pass string) core.Trunk {
	return core.Trunk{ID: "trunk-1", TrunkConfig: core.TrunkConfig{
		Name: "test", Host: "127.0.0.1", Port: port, Transport: core.TransportUDP, Username: user, Password: pass,
	}}
}

// TestOptionsDigest: the trunk challenges the OPTIONS with 401, sipp
// verifies the digest answer, and the 200's Allow and User-Agent are
// reported.
func TestOptionsDigest(t *testing.T) {
	t.Parallel()
	h := startUA(t, newRecorder(), nil)
	trunk := startSipp(t, "uas_options.xml", "", "-set", "user", "acme", "-set", "pass", "s3cret")
	got, err := h.ua.Options(t.Context(), trunkAt(trunk.Port(), "acme", "s3cret"))
	if err != nil {
		t.Fatalf("Options: %v", err)
	}
	if !got.Reachable || got.Status != 200 || !got.AllowsREFER || got.UserAgent != "sipp-trunk" || got.Error != "" || got.RTTMS <= 0 || got.CheckedAt.IsZero() {
		t.Errorf("health = %+v", got)
	}
	trunk.Wait(t)
}

// TestOptionsNoAuth: a trunk that answers 200 at once.
func TestOptionsNoAuth(t *testing.T) {
	t.Parallel()
	h := startUA(t, newRecorder(), nil)
	trunk := startSipp(t, "uas_options.xml", "", "-set", "auth", "none")
	got, err := h.ua.Options(t.Context(), trunkAt(trunk.Port(), "", ""))
	if err != nil || got.Status != 200 || !got.AllowsREFER {
		t.Fatalf("Options = %+v, %v", got, err)
	}
	trunk.Wait(t)
}

// TestOptionsNobodyListens: UDP to a port where nothing listens is
// silence; the probe ends with ctx, unreachable.
func TestOptionsNobodyListens(t *testing.T) {
	t.Parallel()
	h := startUA(t, newRecorder(), nil)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	got, err := h.ua.Options(ctx, trunkAt(sipptest.FreePort(t), "", ""))
	var e *core.Error
	if !errors.As(err, &e) || e.Code != core.CodeUnavailable {
		t.Fatalf("Options = %+v, %v; want unavailable", got, err)
	}
	if got.Reachable || got.Status != 0 || got.CheckedAt.IsZero() {
		t.Errorf("health = %+v", got)
	}
}
