package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Resolver looks up a host's addresses; net.DefaultResolver does.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config makes a guarded client. Zero durations take the defaults.
type Config struct {
	Policy Policy
	// ConnectTimeout bounds one TCP connect (default 5s), HeaderTimeout
	// the wait for the response's headers after the request is sent,
	// TLS handshake included (default 10s), and Timeout the whole
	// exchange, redirects and reading the body included (default 30s).
	ConnectTimeout time.Duration
	HeaderTimeout  time.Duration
	Timeout        time.Duration
	// MaxRedirects is how many redirects are followed (default 5;
	// negative follows none). Each is dialled through the same check.
	MaxRedirects int
	// HTTPSOnly refuses a plain-http URL, a redirect's included.
	HTTPSOnly bool
	// Resolver replaces net.DefaultResolver (tests use it).
	Resolver Resolver
}

// Defaults.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultHeaderTimeout  = 10 * time.Second
	DefaultTimeout        = 30 * time.Second
	DefaultMaxRedirects   = 5
)

// trustedKey marks a dial to a trusted host, for the Control check.
type trustedKey struct{}

// NewTransport returns a transport whose every connection is checked
// against cfg.Policy.
func NewTransport(cfg Config) *http.Transport {
	cfg = cfg.withDefaults()
	d := &dialer{policy: cfg.Policy, resolver: cfg.Resolver}
	d.net = net.Dialer{
		Timeout:        cfg.ConnectTimeout,
		KeepAlive:      30 * time.Second,
		ControlContext: d.control,
	}
	return &http.Transport{
		Proxy:                 nil, // a proxy would connect where the check cannot see
		DialContext:           d.dial,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.HeaderTimeout,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          32,
		IdleConnTimeout:       90 * time.Second,
	}
}

// NewClient returns a client on NewTransport(cfg) with cfg's overall
// timeout and redirect rules.
func NewClient(cfg Config) *http.Client {
	cfg = cfg.withDefaults()
	return &http.Client{
		Transport: NewTransport(cfg),
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", cfg.MaxRedirects)
			}
			if cfg.HTTPSOnly && req.URL.Scheme != "https" {
				return errors.New("redirected to a URL that is not https")
			}
			return nil
		},
	}
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRedirects == 0 {
		c.MaxRedirects = DefaultMaxRedirects
	} else if c.MaxRedirects < 0 {
		c.MaxRedirects = 0
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	return c
}

type dialer struct {
	policy   Policy
	resolver Resolver
	net      net.Dialer
}

// dial resolves the host itself, refuses it when none of its addresses
// is allowed, and dials the allowed ones in turn by address: the Control
// check then sees exactly what is connected to.
func (d *dialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	trusted := d.policy.trusts(address)
	if trusted {
		ctx = context.WithValue(ctx, trustedKey{}, true)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = d.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
	}
	var firstErr error
	for _, a := range addrs {
		if !trusted && !d.policy.Allows(a) {
			continue
		}
		conn, err := d.net.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, &RefusedError{Host: host}
}

// control runs on the socket about to connect: the last word on the
// address, whatever resolved it.
func (d *dialer) control(ctx context.Context, network, address string, _ syscall.RawConn) error {
	if ctx.Value(trustedKey{}) != nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Host: "the connection"}
	}
	if !d.policy.Allows(ap.Addr()) {
		return &RefusedError{Host: "the connection"}
	}
	return nil
}
