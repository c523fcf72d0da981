package core_test

import (
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// digestLine is a number whose transfer trunk (at host) authenticates its
// calls by digest with trunk/s3cret.
func digestLine(t *testing.T, host string, cfg core.CallsConfig) *core.Calls {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vd.db"), make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "carrier", Host: host, Username: "trunk", Password: "s3cret", InboundAuth: "digest"}, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetTrunk(ctx, tr.ID)
	if err != nil || got.InboundAuth != core.InboundAuthDigest {
		t.Fatalf("stored trunk: %+v, %v", got, err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	calls := core.NewCalls(ctx, cfg, st, st, core.NewBus(), slog.New(slog.NewTextHandler(newTestWriter(t), nil)))
	calls.SetSignaling(&scriptedSIP{calls: calls})
	return calls
}

func offer(src string, auth string, verify func(u, p string) bool) core.InboundInvite {
	return core.InboundInvite{SIPCallID: "c-" + src + auth, Called: "31850835037", Caller: "+31611122233",
		Source: netip.MustParseAddrPort(src), Authorization: auth, VerifyDigest: verify}
}

func TestInboundDigestDecision(t *testing.T) {
	calls := digestLine(t, "127.0.0.1", core.CallsConfig{})
	ctx := t.Context()
	right := func(u, p string) bool { return u == "trunk" && p == "s3cret" }
	wrong := func(u, p string) bool { return false }

	// Without credentials: a challenge, from any source, the trunk's own
	// host included (a digest trunk is not recognised by address).
	for _, src := range []string{"127.0.0.2:5060", "127.0.0.1:5060"} {
		d := calls.OfferCall(ctx, offer(src, "", nil))
		if !d.Challenge || d.RejectStatus != 401 || d.CallID != "" || d.KeepState {
			t.Errorf("from %s without credentials: %+v, want a 401 challenge", src, d)
		}
	}
	if d := calls.OfferCall(ctx, offer("127.0.0.2:5060", `Digest username="trunk"`, wrong)); d.Challenge || d.RejectStatus != 403 || d.CallID != "" {
		t.Errorf("wrong credentials: %+v, want 403", d)
	}
	if d := calls.OfferCall(ctx, offer("127.0.0.2:5060", `Digest username="trunk"`, right)); d.CallID == "" {
		t.Errorf("right credentials: %+v, want the call", d)
	}
}

func TestInboundDigestAllowedSourceNeedsNone(t *testing.T) {
	calls := digestLine(t, "192.0.2.10", core.CallsConfig{AllowedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if d := calls.OfferCall(t.Context(), offer("127.0.0.2:5060", "", nil)); d.CallID == "" {
		t.Errorf("allowed source: %+v, want the call", d)
	}
}

func TestValidateTrunkInboundAuth(t *testing.T) {
	tc := core.TrunkConfig{Name: "x", Host: "pbx.example.com"}
	if err := core.ValidateTrunk(&tc); err != nil || tc.InboundAuth != core.InboundAuthIP {
		t.Errorf("default: %q, %v", tc.InboundAuth, err)
	}
	tc = core.TrunkConfig{Name: "x", Host: "pbx.example.com", Username: "u", InboundAuth: "digest"}
	if err := core.ValidateTrunk(&tc); !core.HasCode(err, core.CodeMissingField) {
		t.Errorf("digest without password: %v", err)
	}
	tc = core.TrunkConfig{Name: "x", Host: "pbx.example.com", InboundAuth: "token"}
	if err := core.ValidateTrunk(&tc); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Errorf("unknown inbound_auth: %v", err)
	}
}
