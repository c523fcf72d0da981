package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDebugAddrLoopbackOnly(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"127.0.0.1:6060", "127.0.0.1:0", "[::1]:6060", "localhost:6060"} {
		if err := checkDebugAddr(addr); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	for _, addr := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		if err := checkDebugAddr(addr); err == nil {
			t.Errorf("%s accepted", addr)
		}
	}
	env := map[string]string{"HOME": t.TempDir(), "VOICEDOCK_DEBUG_ADDR": "0.0.0.0:6060"}
	if _, err := loadConfig(env); err == nil || !strings.Contains(err.Error(), "VOICEDOCK_DEBUG_ADDR") {
		t.Errorf("a non-loopback debug address loaded: %v", err)
	}
}

func TestDebugHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(debugHandler())
	defer srv.Close()
	for _, path := range []string{"/debug/goroutines", "/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, res.Status)
		}
	}
}
