package transport

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

var fakeMetrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("voicedock_calls_live 0\n"))
})

func TestMetricsNeedAKeyWhenKeysAreSet(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, Metrics: fakeMetrics})
	if r := do(t, "GET", ts.base+MetricsPath, nil, nil); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("no key: %d", r.status)
	}
	if r := do(t, "GET", ts.base+MetricsPath, bearer("wrong-key-0123456789"), nil); r.status != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", r.status)
	}
	// A read key is enough to scrape.
	r := do(t, "GET", ts.base+MetricsPath, bearer(readKey), nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "voicedock_calls_live") {
		t.Errorf("read key: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", ts.base+MetricsPath, bearer(readKey), "x"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", r.status)
	}
}

func TestMetricsOpenOnLoopbackWithoutKeys(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Metrics: fakeMetrics})
	if r := do(t, "GET", ts.base+MetricsPath, nil, nil); r.status != http.StatusOK {
		t.Errorf("loopback without keys: %d", r.status)
	}
	bare := startHTTP(t, HTTPConfig{})
	if r := do(t, "GET", bare.base+MetricsPath, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("no metrics handler: %d", r.status)
	}
}

func TestServeMetrics(t *testing.T) {
	if err := ServeMetrics(t.Context(), HTTPConfig{Addr: "0.0.0.0:0", Metrics: fakeMetrics}, nil, nil); err == nil || !strings.Contains(err.Error(), "without API keys") {
		t.Errorf("a non-loopback metrics listener without keys: %v", err)
	}
	base, stop := startMetrics(t, HTTPConfig{Keys: testKeys})
	if r := do(t, "GET", base+MetricsPath, nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("no key: %d", r.status)
	}
	if r := do(t, "GET", base+MetricsPath, bearer(readKey), nil); r.status != http.StatusOK {
		t.Errorf("key: %d", r.status)
	}
	if r := do(t, "GET", base+MCPPath, bearer(readKey), nil); r.status != http.StatusNotFound {
		t.Errorf("the metrics listener serves %s: %d", MCPPath, r.status)
	}
	stop()
}

// startMetrics runs ServeMetrics with fakeMetrics on 127.0.0.1:0 and
// returns its base URL, and a stop that cancels it and checks it returned
// nil.
func startMetrics(t *testing.T, cfg HTTPConfig) (string, func()) {
	t.Helper()
	cfg.Addr, cfg.Metrics = "127.0.0.1:0", fakeMetrics
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- ServeMetrics(ctx, cfg, nil, func(a net.Addr) { addr <- a })
	}()
	select {
	case a := <-addr:
		var once sync.Once
		return "http://" + a.String(), func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("ServeMetrics after cancel: %v", err)
				}
			})
		}
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	return "", nil
}
