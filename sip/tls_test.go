package sip

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1, valid for the
// hour around now, and its key.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	return certFor(t, "127.0.0.1", time.Now().Add(-30*time.Minute))
}

// TestTLSListener: with a certificate, TLS listens on the next port and
// answers OPTIONS (sipp here is built without TLS, so a Go client asks).
func TestTLSListener(t *testing.T) {
	t.Parallel()
	cert, key := writeCert(t)
	h := startUA(t, newRecorder(), func(c *Config) { c.TLSCert, c.TLSKey = cert, key })
	tlsAddr := h.ua.net.Load().bound[tpTLS]
	if want := netip.MustParseAddrPort(h.addr).Port() + 1; tlsAddr.Port() != want {
		t.Fatalf("TLS on %s, want port %d", tlsAddr, want)
	}
	if ct := h.ua.net.Load().contacts[tpTLS]; !strings.Contains(ct.Address.String(), "transport=tls") || ct.Address.Port != int(tlsAddr.Port()) {
		t.Errorf("TLS contact %s", ct.Address.String())
	}
	conn, err := tls.Dial("tcp", tlsAddr.String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a test certificate
	if err != nil {
		t.Fatalf("dial TLS: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	local := conn.LocalAddr().(*net.TCPAddr)
	req := "OPTIONS sip:100@" + tlsAddr.String() + ";transport=tls SIP/2.0\r\n" +
		"Via: SIP/2.0/TLS 127.0.0.1:" + strconv.Itoa(local.Port) + ";branch=z9hG4bK-tls-1\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=probe\r\n" +
		"To: <sip:100@127.0.0.1>\r\n" +
		"Call-ID: tls-options-1\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	r := bufio.NewReader(conn)
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "SIP/2.0 200 ") {
		t.Fatalf("status line %q, %v", status, err)
	}
	var allow string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Allow") {
			allow = strings.TrimSpace(value)
		}
	}
	if !strings.Contains(allow, "REFER") || !strings.Contains(allow, "NOTIFY") {
		t.Errorf("Allow: %q", allow)
	}
}
