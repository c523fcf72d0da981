package main

import (
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestInboundDigestAuthTrunk: a trunk configured with inbound_auth digest
// calls from an address that is not its host; its INVITE is challenged,
// answered with the trunk's credentials and the call is answered. A wrong
// password is refused with 403 and leaves no record.
func TestInboundDigestAuthTrunk(t *testing.T) {
	t.Parallel()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk"}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"Carrier","host":"192.0.2.10","username":"carrier","password":"s3cret","inbound_auth":"digest"}`)
	if got := field(tr, "trunk", "inbound_auth"); got != "digest" {
		t.Fatalf("configure_trunk inbound_auth = %q: %s", got, tr.json)
	}
	if got := field(mustCall(t, c, "get_trunk", `{"id":"`+field(tr, "trunk", "id")+`"}`), "trunk", "inbound_auth"); got != "digest" {
		t.Errorf("get_trunk inbound_auth = %q", got)
	}
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	called := strings.TrimPrefix(ourNumber, "+")

	wrong := sipptest.Start(t, "uac_digest_wrong.xml", line.sipAddr, sipptest.Options{IP: "127.0.0.2"}, "-s", called, "-au", "carrier", "-ap", "guess")
	wrong.Wait(t)
	list := mustCall(t, c, "list_calls", `{}`)
	if n := list.structured["pagination"].(map[string]any)["total"]; n != float64(0) {
		t.Errorf("refused call left a record: %s", list.json)
	}

	s := sipptest.Start(t, "uac_digest_auth.xml", line.sipAddr, sipptest.Options{IP: "127.0.0.2"}, "-s", called, "-au", "carrier", "-ap", "s3cret")
	id := line.answered(t)
	if status, reason := line.ended(t, id); status != "ended" || reason != "user_hangup" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	s.Wait(t)
}

func TestDigestTrunkNeedsPassword(t *testing.T) {
	t.Parallel()
	c, _ := stdioServer(t, t.TempDir())
	r := call(t, c, "configure_trunk", `{"name":"Carrier","host":"192.0.2.10","username":"carrier","inbound_auth":"digest"}`)
	if r.errorCode() != "missing_field" || r.errorParam() != "password" {
		t.Errorf("digest trunk without password: %s", r.json)
	}
}
