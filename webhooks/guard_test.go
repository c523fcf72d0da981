package webhooks

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/netguard"
)

type oneAnswer netip.Addr

func (a oneAnswer) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.Addr(a)}, nil
}

// TestInternalAddressIsDeadAtOnce: a webhook URL whose host resolves to
// a private address is never sent to, and the delivery is dead with the
// code in its last error; a loopback receiver (the default allowlist)
// still gets its deliveries.
func TestInternalAddressIsDeadAtOnce(t *testing.T) {
	store := watch(openStore(t))
	rc := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(rc.URL(), "/hook"), "http://"))
	cfg := fast()
	cfg.Client = netguard.NewClient(netguard.Config{
		Policy:   netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		Resolver: oneAnswer(netip.MustParseAddr("10.20.30.40")),
	})
	bad := event(t, newID(t), "http://hooks.example.com:"+port+"/hook", "")
	good := event(t, newID(t), rc.URL(), "")
	write(t, store.Store, bad, good)
	r := start(t, store, nil, cfg)
	got := store.waitStatus(t, bad.ID, core.DeliveryDead)
	store.waitStatus(t, good.ID, core.DeliveryDelivered)
	r.stop()
	if got.Attempts != 1 || got.LastStatus != 0 || !strings.HasPrefix(got.LastError, "address_not_allowed: ") ||
		strings.Contains(got.LastError, "10.20.30.40") {
		t.Errorf("dead %+v", got)
	}
}
