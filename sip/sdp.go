package sip

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxSDPSize bounds the offers we parse; real ones are a few hundred bytes.
const maxSDPSize = 32 << 10

// Media directions (RFC 3264 section 5.1).
const (
	dirSendRecv = "sendrecv"
	dirSendOnly = "sendonly"
	dirRecvOnly = "recvonly"
	dirInactive = "inactive"
)

// Codecs we answer with, and the payload type we offer telephone-event on.
const (
	codecPCMU       = "pcmu/8000"
	codecPCMA       = "pcma/8000"
	codecTelEvent   = "telephone-event/8000"
	offerTelEventPT = "101"
)

// sdpMedia is one m= section of a session description.
type sdpMedia struct {
	kind    string // audio, video, ...
	port    int
	proto   string
	formats []string
	rtpmap  map[string]string // payload type -> lower-case "encoding/rate"
	fmtp    map[string]string // payload type -> format parameters
	dir     string            // a=sendrecv... at media level; "" when absent
	conn    string            // c= address at media level; "" when absent
}

// sdpDesc is the part of a session description the answer depends on.
type sdpDesc struct {
	conn  string // session-level c= address
	dir   string // session-level direction attribute
	media []sdpMedia
}

// localMedia is our side of a call's media: where we receive RTP and the
// o= line's session id and version.
type localMedia struct {
	addr    string // host or IP for c= and o=
	port    int
	sessID  uint64
	version uint64
}

// notAcceptableError reports an offer we cannot answer (488).
type notAcceptableError struct{ why string }

func (e *notAcceptableError) Error() string { return "sdp: offer not acceptable: " + e.why }

// parseSDP reads the lines of a session description that matter to us.
// Lines end in CRLF or a bare LF; unknown lines are skipped.
func parseSDP(body []byte) (*sdpDesc, error) {
	if len(body) > maxSDPSize {
		return nil, fmt.Errorf("sdp: body of %d bytes is too large", len(body))
	}
	d := &sdpDesc{}
	var cur *sdpMedia
	sawVersion := false
	for n, raw := range bytes.Split(body, []byte("\n")) {
		line := strings.TrimRight(string(raw), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return nil, fmt.Errorf("sdp: line %d %q is not type=value", n+1, clip(line, 40))
		}
		typ, val := line[0], strings.TrimSpace(line[2:])
		if !sawVersion {
			if typ != 'v' || val != "0" {
				return nil, fmt.Errorf("sdp: first line %q is not v=0", clip(line, 40))
			}
			sawVersion = true
			continue
		}
		switch typ {
		case 'c':
			addr, err := parseConnection(val)
			if err != nil {
				return nil, fmt.Errorf("sdp: line %d: %w", n+1, err)
			}
			if cur != nil {
				cur.conn = addr
			} else {
				d.conn = addr
			}
		case 'm':
			m, err := parseMediaLine(val)
			if err != nil {
				return nil, fmt.Errorf("sdp: line %d: %w", n+1, err)
			}
			d.media = append(d.media, m)
			cur = &d.media[len(d.media)-1]
		case 'a':
			if cur == nil {
				if isDirection(val) {
					d.dir = val
				}
				continue
			}
			cur.attribute(val)
		}
	}
	if !sawVersion {
		return nil, fmt.Errorf("sdp: empty description")
	}
	if len(d.media) == 0 {
		return nil, fmt.Errorf("sdp: no m= line")
	}
	return d, nil
}

// parseConnection returns the address of a c= value ("IN IP4 192.0.2.1").
func parseConnection(val string) (string, error) {
	f := strings.Fields(val)
	if len(f) < 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return "", fmt.Errorf("bad c= value %q", clip(val, 40))
	}
	addr, _, _ := strings.Cut(f[2], "/") // multicast ttl/count
	if addr == "" {
		return "", fmt.Errorf("bad c= address %q", clip(val, 40))
	}
	return addr, nil
}

// parseMediaLine parses an m= value ("audio 49170 RTP/AVP 0 8 101").
func parseMediaLine(val string) (sdpMedia, error) {
	f := strings.Fields(val)
	if len(f) < 4 {
		return sdpMedia{}, fmt.Errorf("bad m= value %q", clip(val, 40))
	}
	portStr, _, _ := strings.Cut(f[1], "/") // port/number-of-ports
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return sdpMedia{}, fmt.Errorf("bad m= port %q", clip(f[1], 20))
	}
	return sdpMedia{
		kind:    strings.ToLower(f[0]),
		port:    port,
		proto:   f[2],
		formats: f[3:],
		rtpmap:  map[string]string{},
		fmtp:    map[string]string{},
	}, nil
}

// attribute records a media-level a= line.
func (m *sdpMedia) attribute(val string) {
	name, rest, _ := strings.Cut(val, ":")
	switch {
	case isDirection(val):
		m.dir = val
	case name == "rtpmap":
		pt, enc, ok := strings.Cut(strings.TrimSpace(rest), " ")
		if !ok {
			return
		}
		// "PCMU/8000" or "opus/48000/2": keep encoding/rate.
		parts := strings.SplitN(strings.TrimSpace(enc), "/", 3)
		if len(parts) < 2 {
			return
		}
		m.rtpmap[pt] = strings.ToLower(parts[0] + "/" + parts[1])
	case name == "fmtp":
		pt, params, ok := strings.Cut(strings.TrimSpace(rest), " ")
		if ok {
			m.fmtp[pt] = strings.TrimSpace(params)
		}
	}
}

func isDirection(s string) bool {
	switch s {
	case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
		return true
	}
	return false
}

// encoding is the "encoding/rate" of payload type pt: its rtpmap, or the
// static assignment of RFC 3551 for PCMU (0) and PCMA (8).
func (m *sdpMedia) encoding(pt string) string {
	if enc, ok := m.rtpmap[pt]; ok {
		return enc
	}
	switch pt {
	case "0":
		return codecPCMU
	case "8":
		return codecPCMA
	}
	return ""
}

// usableProto reports whether we can answer a media line's transport: plain
// RTP (no SRTP, no other transport).
func usableProto(p string) bool {
	return strings.EqualFold(p, "RTP/AVP") || strings.EqualFold(p, "RTP/AVPF")
}

// choice is what an answer picked from an offer.
type choice struct {
	index   int    // the m= line answered
	codecPT string // PCMU or PCMA payload type, as offered
	codec   string // codecPCMU or codecPCMA
	tePT    string // telephone-event payload type, "" when not offered
	teFmtp  string
	dir     string // the direction we answer with
	// remote is the offer's RTP address; invalid when it is not an IP
	// address (a host name, c=0.0.0.0 hold).
	remote netip.AddrPort
}

// choose picks the first audio line we can use and, in it, the first of
// PCMU and PCMA in the offer's order.
func choose(d *sdpDesc) (choice, error) {
	for i := range d.media {
		m := &d.media[i]
		if m.kind != "audio" || m.port == 0 || !usableProto(m.proto) {
			continue
		}
		c := choice{index: i}
		for _, pt := range m.formats {
			enc := m.encoding(pt)
			if c.codecPT == "" && (enc == codecPCMU || enc == codecPCMA) {
				c.codecPT, c.codec = pt, enc
			}
			if c.tePT == "" && enc == codecTelEvent {
				c.tePT, c.teFmtp = pt, m.fmtp[pt]
			}
		}
		if c.codecPT == "" {
			continue
		}
		dir := m.dir
		if dir == "" {
			dir = d.dir
		}
		conn := m.conn
		if conn == "" {
			conn = d.conn
		}
		if dir == "" {
			dir = dirSendRecv
		}
		if (conn == "0.0.0.0" || conn == "::") && dir == dirSendRecv {
			dir = dirSendOnly // RFC 2543 hold: c=0.0.0.0
		}
		c.dir = mirror(dir)
		if a, err := netip.ParseAddr(conn); err == nil && !a.IsUnspecified() {
			c.remote = netip.AddrPortFrom(a.Unmap(), uint16(m.port))
		}
		return c, nil
	}
	return choice{}, &notAcceptableError{why: "no RTP/AVP audio stream with PCMU or PCMA"}
}

// mirror is the direction that answers an offered one.
func mirror(dir string) string {
	switch dir {
	case dirSendOnly:
		return dirRecvOnly
	case dirRecvOnly:
		return dirSendOnly
	case dirInactive:
		return dirInactive
	}
	return dirSendRecv
}

// buildAnswer answers an SDP offer (RFC 3264): one m= line per offered one,
// all but the chosen audio line rejected with port 0.
func buildAnswer(offer []byte, lm localMedia) ([]byte, choice, error) {
	d, err := parseSDP(offer)
	if err != nil {
		return nil, choice{}, &notAcceptableError{why: err.Error()}
	}
	c, err := choose(d)
	if err != nil {
		return nil, choice{}, err
	}
	var b strings.Builder
	writeSessionHeader(&b, lm)
	for i := range d.media {
		m := &d.media[i]
		if i != c.index {
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", m.kind, m.proto, m.formats[0])
			continue
		}
		fmts := c.codecPT
		if c.tePT != "" {
			fmts += " " + c.tePT
		}
		fmt.Fprintf(&b, "m=audio %d %s %s\r\n", lm.port, m.proto, fmts)
		fmt.Fprintf(&b, "a=rtpmap:%s %s\r\n", c.codecPT, rtpmapName(c.codec))
		if c.tePT != "" {
			fmt.Fprintf(&b, "a=rtpmap:%s telephone-event/8000\r\n", c.tePT)
			fmt.Fprintf(&b, "a=fmtp:%s %s\r\n", c.tePT, telEventFmtp(c.teFmtp))
		}
		b.WriteString("a=ptime:20\r\n")
		fmt.Fprintf(&b, "a=%s\r\n", c.dir)
	}
	return []byte(b.String()), c, nil
}

// buildOffer is our offer: PCMU, PCMA and telephone-event on lm.port.
func buildOffer(lm localMedia, dir string) []byte {
	var b strings.Builder
	writeSessionHeader(&b, lm)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 8 %s\r\n", lm.port, offerTelEventPT)
	b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
	b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
	fmt.Fprintf(&b, "a=rtpmap:%s telephone-event/8000\r\n", offerTelEventPT)
	fmt.Fprintf(&b, "a=fmtp:%s 0-16\r\n", offerTelEventPT)
	b.WriteString("a=ptime:20\r\n")
	fmt.Fprintf(&b, "a=%s\r\n", dir)
	return []byte(b.String())
}

func writeSessionHeader(b *strings.Builder, lm localMedia) {
	nettype := addrType(lm.addr)
	b.WriteString("v=0\r\n")
	fmt.Fprintf(b, "o=voicedock %d %d IN %s %s\r\n", lm.sessID, lm.version, nettype, lm.addr)
	b.WriteString("s=voicedock\r\n")
	fmt.Fprintf(b, "c=IN %s %s\r\n", nettype, lm.addr)
	b.WriteString("t=0 0\r\n")
}

// addrType is IP6 for an IPv6 address and IP4 otherwise (a host name too).
func addrType(host string) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		return "IP6"
	}
	return "IP4"
}

func rtpmapName(codec string) string {
	if codec == codecPCMA {
		return "PCMA/8000"
	}
	return "PCMU/8000"
}

// telEventFmtp echoes the offer's telephone-event events when they are a
// plain list of event numbers and ranges, and falls back to 0-16.
func telEventFmtp(offered string) string {
	if offered == "" || len(offered) > 64 {
		return "0-16"
	}
	for _, r := range offered {
		if (r < '0' || r > '9') && r != '-' && r != ',' {
			return "0-16"
		}
	}
	return offered
}
