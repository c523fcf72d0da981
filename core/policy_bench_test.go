package core_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// BenchmarkPolicyCheckOwnCountries is the check every transfer_call and
// check_destination makes when VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES is not
// set: the allowed countries are those of the deployment's own numbers,
// here 20 of them in a real SQLite store.
func BenchmarkPolicyCheckOwnCountries(b *testing.B) {
	ctx := b.Context()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "vd.db"), make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	p, err := core.NewPolicy(core.PolicyConfig{})
	if err != nil {
		b.Fatal(err)
	}
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	svc.SetPolicy(p)
	for i := range 20 {
		n := "+318508350" + string(rune('1'+i/10)) + string(rune('0'+i%10))
		if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: n}); err != nil {
			b.Fatal(err)
		}
	}
	dest := core.Destination{Type: core.DestinationNumber, Number: "+31612345678"}
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v, err := p.Check(ctx, st, dest, nil); err != nil || !v.Allowed {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("CheckDestination", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c, err := svc.CheckDestination(ctx, "+31612345678", ""); err != nil || !c.Allowed {
				b.Fatal(c, err)
			}
		}
	})
}
