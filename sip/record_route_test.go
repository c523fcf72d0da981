package sip

import (
	"strconv"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestInDialogRequestsFollowRecordRoute: behind a record-routing proxy
// (Kamailio in front of several nodes) the caller's Contact is not where
// the UA's in-dialog requests go first: the REFER and the BYE are sent to
// the route set the INVITE recorded, with a Route header, and the Contact
// as their Request-URI (RFC 3261 12.2.1.1). sipp plays the proxy: its
// Record-Route names itself, its Contact a port where nothing listens.
func TestInDialogRequestsFollowRecordRoute(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	rec.hangUpOnSuccess(h.ua)
	dead := sipptest.FreePort(t)
	caller := startSipp(t, "uac_record_route.xml", h.addr, "-s", "+31201234567", "-set", "dead", strconv.Itoa(dead))
	id := rec.expect(t, "answered").callID

	refer(t, h, id, "sip:+31207654321@127.0.0.1:9")
	rec.expectFinalProgress(t, id, 200, "OK")
	rec.expectEnded(t, id, core.EndAssistantHangup)
	caller.Wait(t)
	for _, method := range []string{"REFER", "BYE"} {
		if want := method + " sip:sipp@127.0.0.1:" + strconv.Itoa(dead) + " SIP/2.0"; !strings.Contains(caller.Traces(), want) {
			t.Errorf("no %q among the messages sipp received\n%s", want, caller.Traces())
		}
	}
}
