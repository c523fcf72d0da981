package tools_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/tools"
)

// noSIP is the signalling side for the fuzz target: no call is ever live,
// so a tool that would reach the phone network is refused before it could.
type noSIP struct{}

func (noSIP) Refer(context.Context, string, string) (int, error) { return 0, nil }
func (noSIP) Hangup(context.Context, string) error               { return nil }
func (noSIP) Dial(context.Context, core.OutboundDial) error {
	return core.Errorf(core.CodeUnavailable, "no SIP in the fuzz target")
}
func (noSIP) ReferTo(context.Context, string, core.ReferTarget) (int, error) { return 0, nil }
func (noSIP) Dialog(string) (core.SIPDialog, error) {
	return core.SIPDialog{}, core.Errorf(core.CodeCallNotActive, "no SIP in the fuzz target")
}
func (noSIP) Options(context.Context, core.Trunk) (core.TrunkHealth, error) {
	return core.TrunkHealth{}, core.Errorf(core.CodeUnavailable, "no SIP in the fuzz target")
}

// FuzzToolInputs feeds arbitrary arguments to every tool against the real
// store: whatever comes in, a tool answers with a result or a coded error,
// never a panic or an internal error, and its result encodes as JSON.
func FuzzToolInputs(f *testing.F) {
	seeds := []string{
		`{}`, `null`, `[]`, `{"id":""}`, `{"id":"x","force":true}`, `{"limit":1000}`, `{"offset":-1}`,
		`{"name":"A","llm_config":{"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"+31612345678","description":"d"}]}]}}`,
		`{"name":"PBX","host":"pbx.example.com","port":5060,"transport":"tcp","username":"u","password":"p"}`,
		`{"phone_number":"+31850835037","assistant_id":null}`,
		`{"call_id":"c","destination":"sip:a@b>;x\r\nContact: <sip:evil@x>"}`,
		`{"destination":"+449098790000"}`, `{"number_id":"n","destination":"+19002345678"}`,
		`{"destination":"+31612345678","dial":true}`, `{"since":"2026-11-24T00:00:00Z","until":"2026-11-23T00:00:00Z"}`,
		`{"group_by":"week"}`, `{"destination":"sip:a@b","group_by":"destination"}`,
	}
	for i := range seeds {
		f.Add(uint8(i), seeds[i])
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), make([]byte, 32), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	logger := slog.New(slog.DiscardHandler)
	svc := core.NewConfiguration(st, logger)
	calls := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), logger)
	calls.SetSignaling(noSIP{})
	all := tools.All(tools.Deps{
		Config: svc, Calls: calls, Deliveries: core.NewDeliveries(st, nil),
		Trunks: core.NewTrunkMonitor(st, noSIP{}, 0, logger), Stats: core.NewStatistics(st),
	})

	f.Fuzz(func(t *testing.T, which uint8, args string) {
		tool := all[int(which)%len(all)]
		res, err := tool.Call(ctx, json.RawMessage(args))
		if err != nil {
			e := core.AsError(err)
			if e.Code == core.CodeInternal || e.Message == "" {
				t.Fatalf("%s(%q): %v", tool.Name, args, err)
			}
			return
		}
		if _, err := json.Marshal(res.Structured); err != nil {
			t.Fatalf("%s(%q): result does not encode: %v", tool.Name, args, err)
		}
	})
}
