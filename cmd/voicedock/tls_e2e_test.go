package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var tlsListening = regexp.MustCompile(`caller=Transport<TLS> network=TLS laddr=(\S+)`)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "voicedock e2e"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startBaresip runs Debian's baresip, bound to loopback, dialling uri
// once it is ready; its trace (-s) goes to the returned buffer.
func startBaresip(t *testing.T, caFile, uri string) *syncBuffer {
	t.Helper()
	if _, err := exec.LookPath("baresip"); err != nil {
		t.Fatalf("baresip is not installed (scripts/test.sh installs Debian's baresip-core): %v", err)
	}
	dir := t.TempDir()
	// Audio through aubridge (a loop inside baresip): no sound card.
	config := strings.Join([]string{
		"poll_method epoll",
		"sip_listen 127.0.0.1:0",
		"net_interface 127.0.0.1",
		"sip_cafile " + caFile,
		"call_local_timeout 30",
		"audio_player aubridge,nil",
		"audio_source aubridge,nil",
		"audio_alert aubridge,nil",
		"module_path /usr/lib/baresip/modules",
		"module g711.so",
		"module aubridge.so",
		"module menu.so",
		"module account.so",
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte("<sip:caller@127.0.0.1>;regint=0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command("baresip", "-f", dir, "-s", "-e", "/dial "+uri)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("baresip:\n%s", out)
		}
	})
	return out
}

// TestSIPOverTLSWithBaresip: a real SIP stack (baresip) calls the server
// over TLS with its self-signed certificate: the call is answered over
// TLS, the greeting's RTP reaches baresip, and end_call's BYE goes back
// over the same TLS connection.
//
// The Request-URI is sip:...;transport=tls rather than sips:: the libre
// of Debian's baresip 1.0 refuses to send to a sips: URI (ENOSYS), and
// sipp here is built without TLS.
func TestSIPOverTLSWithBaresip(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, t.TempDir())
	c, logs := stdioServerVersion(t, "2025-11-25", dir,
		"VOICEDOCK_SIP_TRANSPORTS=udp,tls", "VOICEDOCK_SIP_TLS_CERT="+cert, "VOICEDOCK_SIP_TLS_KEY="+key)
	m, off := logs.waitFor(t, tlsListening, 0, 20*time.Second)
	tlsAddr := m[1]
	line := &phoneLine{c: c, logs: logs, offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"TLS desk","first_message":"Hello over TLS."}`)
	mustCall(t, c, "configure_trunk", `{"name":"Carrier","host":"127.0.0.1","transport":"tls"}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`"}`)

	bs := startBaresip(t, cert, "sip:"+calledUser+"@"+tlsAddr+";transport=tls")
	callID := line.answered(t)
	bs.waitFor(t, regexp.MustCompile(`Call established: sip:`+calledUser+`@`), 0, 20*time.Second)
	for _, want := range []string{`(?m)^INVITE sip:` + calledUser + `@\S+;transport=tls SIP/2\.0`, `(?m)^Via: SIP/2\.0/TLS 127\.0\.0\.1`, `(?m)^SIP/2\.0 200 OK`} {
		if !regexp.MustCompile(want).MatchString(bs.String()) {
			t.Errorf("baresip's trace lacks %s", want)
		}
	}
	// The greeting is played: baresip receives our RTP.
	bs.waitFor(t, regexp.MustCompile(`incoming rtp for 'audio' established, receiving from 127\.0\.0\.1:`), 0, 20*time.Second)

	ended := mustCall(t, c, "end_call", `{"call_id":"`+callID+`"}`)
	if field(ended, "call", "status") != "ended" || field(ended, "call", "end_reason") != "assistant_ended" {
		t.Errorf("end_call: %s", ended.json)
	}
	bs.waitFor(t, regexp.MustCompile(`(?m)^BYE sip:\S+;transport=tls SIP/2\.0`), 0, 20*time.Second)
	bs.waitFor(t, regexp.MustCompile(`terminated|session closed`), 0, 20*time.Second)
}
