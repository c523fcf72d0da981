package kamailiotest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestDeadNodeMarkedDown: the shipped config probes its nodes; one where
// nothing answers is out of the rotation within the probe interval plus
// the reply timeout.
func TestDeadNodeMarkedDown(t *testing.T) {
	t.Parallel()
	dead := net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t)))
	p := Start(t, Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t))), Nodes: []string{dead}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	took, err := p.WaitNode(ctx, dead, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("marked down after %v", took)
}
