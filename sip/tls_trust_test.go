package sip

import (
	"context"
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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// certFor writes a self-signed certificate for ip, valid from notBefore
// for an hour, and its key.
func certFor(t *testing.T, ip string, notBefore time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "trunk " + ip},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(time.Hour),
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
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// tlsTrunk is a UA answering calls over TLS with the given certificate:
// the trunk our UA calls.
func tlsTrunk(t *testing.T, cert, key string) (*harness, int) {
	t.Helper()
	h := startUA(t, newRecorder(), func(c *Config) { c.TLSCert, c.TLSKey = cert, key })
	return h, int(h.ua.net.Load().bound[tpTLS].Port())
}

func tlsDial(id string, port int) core.OutboundDial {
	return core.OutboundDial{
		CallID: id,
		To:     fmt.Sprintf("sip:+31207654321@127.0.0.1:%d;transport=tls", port),
		From:   "+15550001111",
		Trunk: core.Trunk{ID: "trunk-tls", TrunkConfig: core.TrunkConfig{
			Name: "tls", Host: "127.0.0.1", Port: port, Transport: core.TransportTLS,
		}},
	}
}

// TestDialTLSChecksTheCertificate: a trunk called over TLS must show a
// certificate for its address from a trusted CA; each refusal is
// tls_certificate_invalid saying why, and no call reaches the trunk.
func TestDialTLSChecksTheCertificate(t *testing.T) {
	t.Parallel()
	good, goodKey := certFor(t, "127.0.0.1", time.Now().Add(-time.Minute))
	other, otherKey := certFor(t, "127.0.0.9", time.Now().Add(-time.Minute))
	expired, expiredKey := certFor(t, "127.0.0.1", time.Now().Add(-2*time.Hour))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	var bundle []byte
	for _, f := range []string{good, other, expired} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	if err := os.WriteFile(caFile, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	ownCert, ownKey := certFor(t, "127.0.0.1", time.Now().Add(-time.Minute))
	trusting := func(c *Config) { c.TLSCert, c.TLSKey, c.TLSCAFile = ownCert, ownKey, caFile }

	for _, tc := range []struct {
		name, cert, key, want string
		mod                   func(*Config)
	}{
		{"self-signed, not trusted", good, goodKey, "not signed by a trusted authority", func(c *Config) { c.TLSCert, c.TLSKey = ownCert, ownKey }},
		{"for another address", other, otherKey, "not valid for 127.0.0.1", trusting},
		{"expired", expired, expiredKey, "expired", trusting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trunk, port := tlsTrunk(t, tc.cert, tc.key)
			rec := newRecorder()
			h := startUA(t, rec, tc.mod)
			err := h.ua.Dial(context.Background(), tlsDial("out-tls", port))
			if !core.HasCode(err, core.CodeTLSCertificate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial = %v, want %s saying %q", err, core.CodeTLSCertificate, tc.want)
			}
			rec.expectEnded(t, "out-tls", core.EndFailed)
			trunk.rec.expectQuiet(t, 50*time.Millisecond)
		})
	}

	// Trusted and for the right address: the call goes through.
	trunk, port := tlsTrunk(t, good, goodKey)
	rec := newRecorder()
	h := startUA(t, rec, trusting)
	if err := h.ua.Dial(context.Background(), tlsDial("out-ok", port)); err != nil {
		t.Fatalf("Dial with a trusted certificate: %v", err)
	}
	rec.expect(t, "answered")
	if inv := <-trunk.rec.offers; inv.Source.Addr().String() != "127.0.0.1" {
		t.Errorf("the trunk saw %+v", inv)
	}
	if err := h.ua.Hangup(context.Background(), "out-ok"); err != nil {
		t.Fatal(err)
	}
	rec.expectEnded(t, "out-ok", core.EndAssistantHangup)
}
