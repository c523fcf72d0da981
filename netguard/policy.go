package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrRefused is wrapped by every refusal of an address.
var ErrRefused = errors.New("the address is internal and outbound requests may not reach it")

// RefusedError is a refused connection. It names the host as the URL gave
// it, not the address it resolved to, so that a caller cannot map the
// internal network through the error text.
type RefusedError struct {
	Host string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %v", e.Host, ErrRefused)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// Policy says which addresses a client may connect to: public ones always,
// internal ones when an Allowed prefix holds them, and loopback, private
// and CGNAT ones when AllowPrivate is set.
type Policy struct {
	AllowPrivate bool
	Allowed      []netip.Prefix
	// Trusted are host:port pairs (the host as in the URL, compared
	// without regard to case) the operator configured, not a tool: they
	// may resolve anywhere. The port is part of it, so that trusting one
	// receiver does not open the other services of its host.
	Trusted []string
}

// internalPrefixes are the special-purpose ranges (RFC 6890 and its
// successors) besides those netip.Addr's methods recognise.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:10::/28"),    // deprecated ORCHID
	netip.MustParsePrefix("ff00::/8"),        // all IPv6 multicast
	netip.MustParsePrefix("224.0.0.0/4"),     // all IPv4 multicast
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, the cloud metadata address among them
	netip.MustParsePrefix("fe80::/10"),       // IPv6 link-local
	netip.MustParsePrefix("fc00::/7"),        // IPv6 unique local
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("::1/128"),         // loopback
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
}

// nat64 embeds an IPv4 address in its last 32 bits (RFC 6052).
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Internal reports whether a is not a public unicast address.
func Internal(a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		return Internal(netip.AddrFrom4([4]byte(b[12:16])))
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Allows reports whether the policy lets a connection reach a.
func (p Policy) Allows(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, pre := range p.Allowed {
		if pre.Contains(a) {
			return true
		}
	}
	if !Internal(a) {
		return true
	}
	// AllowPrivate opens the networks a self-hosted setup keeps its
	// servers on; link-local stays closed (the cloud metadata address,
	// 169.254.169.254, lives there), as do multicast and unspecified:
	// only an Allowed prefix opens those.
	return p.AllowPrivate && (a.IsPrivate() || a.IsLoopback() || cgnat.Contains(a))
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func (p Policy) trusts(hostport string) bool {
	for _, h := range p.Trusted {
		if strings.EqualFold(h, hostport) {
			return true
		}
	}
	return false
}

// ParseCIDRs reads a list of CIDRs (or bare addresses, each a single
// host), as the VOICEDOCK_*_ALLOWED_CIDRS variables carry them. name is
// the variable, for the error.
func ParseCIDRs(name string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR or address", name, s)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR", name, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// CheckLiteral refuses rawURL when its host is an address (not a name)
// the policy does not allow: what can be told before any lookup, so that
// a tool setting such a URL hears of it at once. A name is left to the
// check on every connection.
func (p Policy) CheckLiteral(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil // the form is checked elsewhere
	}
	host := u.Hostname()
	if p.trusts(HostPort(u)) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && !p.Allows(a) {
		return &RefusedError{Host: host}
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		if !p.Allows(netip.MustParseAddr("127.0.0.1")) {
			return &RefusedError{Host: host}
		}
	}
	return nil
}

// HostPort is u's host and port, the port defaulted by the scheme, as
// Policy.Trusted lists them.
func HostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
