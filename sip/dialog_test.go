package sip

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// TestDialHeadersAndDialog: the INVITE of a transfer's own call carries the
// headers and caller id it is given (the human's phone checks them), and
// Dialog names the answered dialog as a Replaces must: its Call-ID, our
// From tag, the phone's To tag and its Contact.
func TestDialHeadersAndDialog(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	human := startSipp(t, "uas_transfer_leg.xml", "")
	d := outbound("leg-1", human, "", "")
	d.From = "+15550100001"
	d.Headers = []core.SIPHeader{{Name: "X-Account", Value: "42"}, {Name: core.SummaryHeader, Value: "Customer asks about a refund"}}
	if err := h.ua.Dial(context.Background(), d); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	rec.expect(t, "answered")
	dlg, err := h.ua.Dialog("leg-1")
	if err != nil {
		t.Fatal(err)
	}
	if dlg.CallID == "" || dlg.LocalTag == "" || !strings.Contains(dlg.RemoteTag, "LegTag") ||
		dlg.RemoteTarget != fmt.Sprintf("sip:human@127.0.0.1:%d", human.Port()) || dlg.SupportsReplaces {
		t.Errorf("Dialog = %+v", dlg)
	}
	if err := h.ua.Hangup(context.Background(), "leg-1"); err != nil {
		t.Fatal(err)
	}
	rec.expectEnded(t, "leg-1", core.EndAssistantHangup)
	human.Wait(t)
	if _, err := h.ua.Dialog("leg-1"); !core.HasCode(err, core.CodeCallNotActive) {
		t.Errorf("Dialog of an ended call: %v", err)
	}
}

// TestDialRefusesUnsafeHeaders: a header the core should never have let
// through is refused before anything is sent.
func TestDialRefusesUnsafeHeaders(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	d := core.OutboundDial{CallID: "leg-2", To: "sip:+31207654321@127.0.0.1:9",
		Headers: []core.SIPHeader{{Name: "X-A", Value: "x\r\nVia: SIP/2.0/UDP evil"}}}
	if err := h.ua.Dial(context.Background(), d); !core.HasCode(err, core.CodeInvalidRequest) {
		t.Fatalf("Dial with CRLF in a header = %v", err)
	}
	if h.ua.calls.count() != 0 {
		t.Error("a call was registered")
	}
}
