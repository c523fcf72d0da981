package numbering

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
)

// HostSet is a set of SIP hosts: exact names and addresses, parent
// domains whose subdomains match, or every host. The zero value is empty.
type HostSet struct {
	any      bool
	exact    map[string]bool
	suffixes []string // ".example.com"
}

// NewHostSet returns an empty set to Add to.
func NewHostSet() HostSet { return HostSet{exact: map[string]bool{}} }

// Add adds one host by its exact name or address.
func (d HostSet) Add(host string) { d.exact[NormHost(host)] = true }

// Empty reports whether the set allows nothing.
func (d HostSet) Empty() bool { return !d.any && len(d.exact) == 0 && len(d.suffixes) == 0 }

// Matches reports whether host (in NormHost's form) is in the set. An
// address matches only itself, never a wildcard.
func (d HostSet) Matches(host string) bool {
	if d.any || d.exact[host] {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	for _, s := range d.suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

func (d HostSet) String() string {
	if d.any {
		return "*"
	}
	var out []string
	for h := range d.exact {
		out = append(out, h)
	}
	for _, s := range d.suffixes {
		out = append(out, "*"+s)
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return strings.Join(out, ", ")
}

// ParseHosts reads a list of hosts: a host name or IP address,
// "*.example.com" for every subdomain of example.com, "*" for every host.
// Blank entries are skipped.
func ParseHosts(list []string) (HostSet, error) {
	set := NewHostSet()
	for _, s := range list {
		s = strings.ToLower(strings.TrimSpace(s))
		switch {
		case s == "":
			continue
		case s == "*":
			set.any = true
			continue
		case strings.HasPrefix(s, "*."):
			parent := strings.TrimSuffix(s[2:], ".")
			if _, err := netip.ParseAddr(parent); err == nil || !IsHost(parent) || strings.Contains(parent, "*") {
				return set, fmt.Errorf("%q is not *.<domain>", s)
			}
			set.suffixes = append(set.suffixes, "."+parent)
			continue
		}
		if !IsHost(s) {
			return set, fmt.Errorf("%q is not a host name or IP address (no scheme, port or path)", s)
		}
		set.exact[NormHost(s)] = true
	}
	return set, nil
}

// NormHost is a host in the form hosts are compared in: lower case, no
// trailing dot, addresses without brackets in canonical form.
func NormHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// IsHost accepts an IP address or a DNS name of letters, digits, '-' and
// dots.
func IsHost(s string) bool {
	if net.ParseIP(strings.Trim(s, "[]")) != nil {
		return true
	}
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
				return false
			}
		}
	}
	return true
}
