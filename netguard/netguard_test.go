package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/voicedock/voicedock/netguard"
)

// mapResolver answers from a table, as a DNS server an attacker controls
// would.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

// serveOn starts a server on the given loopback address.
func serveOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func ok() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
}

func get(c *http.Client, url string) error {
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

func TestInternal(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
		"169.254.169.254", "fe80::1", "100.64.0.1", "100.127.255.255", "224.0.0.1",
		"ff02::1", "0.0.0.0", "::", "fd00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "255.255.255.255", "fe80::1%eth0",
	} {
		if !netguard.Internal(netip.MustParseAddr(s)) {
			t.Errorf("%s is not internal", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700::1111", "100.128.0.1", "::ffff:8.8.8.8"} {
		if netguard.Internal(netip.MustParseAddr(s)) {
			t.Errorf("%s is internal", s)
		}
	}
}

// TestRefusesLoopbackAndFollowsNoRedirectInside: a loopback URL is
// refused, and so is a redirect from an allowed server to 127.0.0.1.
func TestRefusesARedirectToLoopback(t *testing.T) {
	inside := serveOn(t, "127.0.0.1", ok())
	// The "public" server is on 127.0.0.2, which the allowlist opens:
	// it stands for any host on the internet.
	public := serveOn(t, "127.0.0.2", http.RedirectHandler(inside.URL+"/secret", http.StatusFound))
	c := netguard.NewClient(netguard.Config{Policy: netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}})

	if err := get(c, public.URL+"/ok"); !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("redirect to 127.0.0.1: %v, want refused", err)
	}
	if err := get(c, inside.URL); !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("127.0.0.1 directly: %v, want refused", err)
	}
	// The allowlist opens it.
	c = netguard.NewClient(netguard.Config{Policy: netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err := get(c, public.URL+"/ok"); err != nil {
		t.Fatalf("with 127.0.0.0/8 allowed: %v", err)
	}
	c = netguard.NewClient(netguard.Config{Policy: netguard.Policy{AllowPrivate: true}})
	if err := get(c, inside.URL); err != nil {
		t.Fatalf("with private allowed: %v", err)
	}
}

// TestRefusesANameResolvingInside: a host name whose DNS answer is a
// private address is refused before anything is sent; the error names
// the host, not the address.
func TestRefusesANameResolvingInside(t *testing.T) {
	srv := serveOn(t, "127.0.0.1", ok())
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := mapResolver{
		"audio.example.com":    ips("10.0.0.7"),
		"meta.example.com":     ips("169.254.169.254"),
		"mapped.example.com":   ips("::ffff:127.0.0.1"),
		"loopback.example.com": ips("127.0.0.1"),
	}
	c := netguard.NewClient(netguard.Config{Resolver: res, ConnectTimeout: 1})
	for host := range res {
		err := get(c, "http://"+host+":"+port+"/")
		var refused *netguard.RefusedError
		if !errors.As(err, &refused) || refused.Host != host {
			t.Errorf("%s: %v, want refused naming the host", host, err)
		}
	}
	// Opened by the allowlist: reaches the server.
	c = netguard.NewClient(netguard.Config{Resolver: res, Policy: netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	if err := get(c, "http://loopback.example.com:"+port+"/"); err != nil {
		t.Fatalf("allowlisted: %v", err)
	}
	// A trusted host and port (the operator's own configuration) may
	// resolve anywhere; the host's other ports may not.
	c = netguard.NewClient(netguard.Config{Resolver: res, Policy: netguard.Policy{Trusted: []string{"LOOPBACK.example.com:" + port}}})
	if err := get(c, "http://loopback.example.com:"+port+"/"); err != nil {
		t.Fatalf("trusted host: %v", err)
	}
	if err := get(c, "http://loopback.example.com:1/"); !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("another port of the trusted host: %v", err)
	}
	if err := get(c, "http://audio.example.com:"+port+"/"); !errors.Is(err, netguard.ErrRefused) {
		t.Fatalf("untrusted host with a trusted one configured: %v", err)
	}
}

func TestHTTPSOnlyRefusesADowngrade(t *testing.T) {
	plain := serveOn(t, "127.0.0.1", ok())
	tls := httptest.NewTLSServer(http.RedirectHandler(plain.URL, http.StatusFound))
	defer tls.Close()
	c := netguard.NewClient(netguard.Config{HTTPSOnly: true, Policy: netguard.Policy{AllowPrivate: true}})
	c.Transport.(*http.Transport).TLSClientConfig = tls.Client().Transport.(*http.Transport).TLSClientConfig
	if err := get(c, tls.URL); err == nil {
		t.Fatal("a redirect to http was followed")
	}
}

// TestAllowPrivateKeepsMetadataClosed: AllowPrivate opens loopback,
// private and CGNAT networks, never link-local, multicast or unspecified.
func TestAllowPrivateKeepsMetadataClosed(t *testing.T) {
	p := netguard.Policy{AllowPrivate: true}
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.10", "fd00::1", "100.64.1.1", "::1"} {
		if !p.Allows(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
	for _, s := range []string{"169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::"} {
		if p.Allows(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	p.Allowed = []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}
	if !p.Allows(netip.MustParseAddr("169.254.169.254")) {
		t.Error("an explicit prefix does not open link-local")
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := netguard.ParseCIDRs("X", []string{"10.0.0.0/8", " 192.168.1.5 ", "", "::ffff:10.1.1.1", "fd00::/8"})
	if err != nil || len(got) != 4 || got[1].Bits() != 32 || got[2].String() != "10.1.1.1/32" {
		t.Fatalf("%v %v", got, err)
	}
	if _, err := netguard.ParseCIDRs("X", []string{"nope"}); err == nil {
		t.Fatal("accepted nope")
	}
}

func TestCheckLiteral(t *testing.T) {
	p := netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data", "http://10.0.0.1:8080/x", "http://[::ffff:192.168.1.1]/", "https://[fe80::1%25eth0]/"} {
		if err := p.CheckLiteral(u); !errors.Is(err, netguard.ErrRefused) {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:9000/hook", "http://localhost/hook", "https://hooks.example.com/x", "https://8.8.8.8/"} {
		if err := p.CheckLiteral(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if err := (netguard.Policy{}).CheckLiteral("http://localhost:8080/"); !errors.Is(err, netguard.ErrRefused) {
		t.Errorf("localhost without loopback allowed: %v", err)
	}
}
