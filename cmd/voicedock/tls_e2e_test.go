package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
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
	t.Parallel()
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

// kamailioListening is kamailio's start-up report of its sockets.
var kamailioListening = regexp.MustCompile(`tls: 127\.0\.0\.1:\d+`)

// startKamailio runs Debian's kamailio (with its TLS module) as a proxy
// that takes calls on UDP udpPort and relays them to the sips: URI of
// the number at serverTLS, checking the server's certificate against
// caFile; in-dialog requests follow the Record-Route back.
func startKamailio(t *testing.T, udpPort, tlsPort int, serverTLS, caFile string) *syncBuffer {
	t.Helper()
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Fatalf("kamailio is not installed (scripts/test.sh installs Debian's kamailio and kamailio-tls-modules): %v", err)
	}
	const modules = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
	if _, err := os.Stat(modules + "tls.so"); err != nil {
		t.Fatalf("kamailio's TLS module is not installed (apt-get install kamailio-tls-modules): %v", err)
	}
	dir := t.TempDir()
	// Its own certificate serves its TLS socket; the server's is checked
	// as a client (verify_certificate), with the server's self-signed
	// certificate as the only CA.
	kcert, kkey := selfSigned(t, t.TempDir())
	tlsCfg := fmt.Sprintf(`[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
private_key = %s
certificate = %s

[client:default]
method = TLSv1.2+
verify_certificate = yes
require_certificate = yes
ca_list = %s
`, kkey, kcert, caFile)
	cfg := fmt.Sprintf(`#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
listen=udp:127.0.0.1:%d
listen=tls:127.0.0.1:%d
enable_tls=yes
mpath="%s"
loadmodule "tls.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
modparam("tls", "config", "%s")

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
	record_route();
	$ru = "sips:" + $rU + "@%s";
	xlog("L_INFO", "relaying $rm to $ru\n");
	if (!t_relay()) { sl_reply_error(); }
	exit;
}
`, udpPort, tlsPort, modules, filepath.Join(dir, "tls.cfg"), serverTLS)
	for name, body := range map[string]string{"tls.cfg": tlsCfg, "kamailio.cfg": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := &syncBuffer{}
	cmd := exec.Command("kamailio", "-f", filepath.Join(dir, "kamailio.cfg"), "-DD", "-E", "-Y", dir, "-m", "32", "-M", "8")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // it stops its children
		cmd.Wait()
		if t.Failed() {
			t.Logf("kamailio:\n%s", out)
		}
	})
	out.waitFor(t, kamailioListening, 0, 20*time.Second)
	return out
}

// TestSIPSViaKamailio: Kamailio, a real SIP proxy with its own TLS stack,
// relays a call to the server's sips: URI, checking the server's
// self-signed certificate: the call is answered over TLS and the caller's
// BYE reaches the server through the Record-Route.
func TestSIPSViaKamailio(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t, t.TempDir())
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(),
		"VOICEDOCK_SIP_TRANSPORTS=udp,tls", "VOICEDOCK_SIP_TLS_CERT="+cert, "VOICEDOCK_SIP_TLS_KEY="+key)
	m, off := logs.waitFor(t, tlsListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"TLS desk","first_message":"Hello over TLS."}`)
	mustCall(t, c, "configure_trunk", `{"name":"Proxy","host":"127.0.0.1","transport":"tls"}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`"}`)

	udpPort, tlsPort := sipptest.FreePort(t), sipptest.FreePort(t)
	kam := startKamailio(t, udpPort, tlsPort, m[1], cert)
	caller := sipptest.Start(t, "uac_call_hangup.xml", "127.0.0.1:"+strconv.Itoa(udpPort), sipptest.Options{}, "-s", calledUser, "-d", "500")
	callID := line.answered(t)
	caller.Wait(t)
	status, reason := line.ended(t, callID)
	if status != "ended" || reason != "user_hangup" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	if !strings.Contains(kam.String(), "relaying INVITE to sips:"+calledUser+"@"+m[1]) {
		t.Errorf("kamailio did not relay to the sips: URI:\n%s", kam)
	}
}
