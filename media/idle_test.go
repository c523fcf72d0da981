package media_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/voicedock/voicedock/media"
)

// openIdle opens n idle sessions sending to far, and returns a closer.
func openIdle(tb testing.TB, e *media.Engine, n int, far *net.UDPConn) func() {
	tb.Helper()
	var conns []*net.UDPConn
	for i := range n {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c)
		e.Open(string(rune('a'+i%26))+itoa(i), c, media.Params{Remote: addr(far), Codec: media.PCMU, TelephoneEvent: 101, Send: true})
	}
	return func() {
		for i, c := range conns {
			e.Close(string(rune('a'+i%26)) + itoa(i))
			c.Close()
		}
	}
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// An idle call costs one goroutine (its receiver); the keepalive is one
// goroutine for all of them. The goal is at most two per call, so that
// thousands of held calls fit one small box.
func TestIdleCallsCostOneGoroutine(t *testing.T) {
	far := udp(t)
	e := media.NewEngine(media.Config{KeepaliveInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	before := runtime.NumGoroutine()
	const n = 300
	closeAll := openIdle(t, e, n, far)
	defer closeAll()
	if d := runtime.NumGoroutine() - before; d > n {
		t.Fatalf("%d goroutines for %d idle calls", d, n)
	}
	// Every idle call gets its keepalive.
	seen := map[uint32]bool{}
	for deadline := time.Now().Add(5 * time.Second); len(seen) < n && time.Now().Before(deadline); {
		for _, p := range readPackets(t, far, 1, time.Until(deadline)) {
			seen[p.SSRC] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("keepalives from %d of %d idle calls", len(seen), n)
	}
}

// BenchmarkIdleCallMemory reports the heap one idle call's media holds
// (its socket is the kernel's and not counted).
func BenchmarkIdleCallMemory(b *testing.B) {
	far := udp(b)
	e := media.NewEngine(media.Config{KeepaliveInterval: -1})
	const n = 1000
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		closeAll := openIdle(b, e, n, far)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapInuse+m1.StackInuse-m0.HeapInuse-m0.StackInuse)/n, "bytes/call")
		closeAll()
	}
}
