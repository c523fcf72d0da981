package sip

import (
	"testing"
)

// TestContactIsOwnAddress: nodes side by side behind one SIP proxy each
// put their own listening address in Contact (not the proxy's, not each
// other's), so that the requests of a dialog come back to the node that
// holds it.
func TestContactIsOwnAddress(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		h := startUA(t, newRecorder(), func(c *Config) { c.Addr = ip + ":0" })
		st := h.ua.net.Load()
		for _, tp := range []string{tpUDP, tpTCP} {
			ct := st.contacts[tp]
			if ct.Address.Host != ip || ct.Address.Port != int(st.bound[tp].Port()) {
				t.Errorf("node on %s: %s Contact %s, bound %s", ip, tp, ct.Address.String(), st.bound[tp])
			}
		}
	}
}
