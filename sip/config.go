package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voicedock/voicedock/media"
)

// Defaults of Config.
const (
	DefaultAddr            = "127.0.0.1:5060"
	DefaultRTPPortMin      = 10000
	DefaultRTPPortMax      = 20000
	DefaultReferTimeout    = 32 * time.Second // Timer F for UDP
	DefaultEndedDialogTTL  = 32 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
	DefaultRateLimit       = 20 // messages per second per source
	DefaultMaxSources      = 65536
	DefaultMaxCalls        = 1000
	DefaultBusyRetryAfter  = 5 * time.Second
)

// Config configures the user agent.
type Config struct {
	// Addr is the host:port to listen on, for every transport (TLS on the
	// next port). The host must be an IP address; the port may be 0 to pick
	// a free one (see LocalAddr). Default 127.0.0.1:5060.
	Addr string
	// Transports to serve: "udp", "tcp", "tls". Default udp and tcp, plus
	// tls when TLSCert and TLSKey are set.
	Transports []string
	// TLSCert and TLSKey are PEM files for the TLS listener.
	TLSCert, TLSKey string
	// TLSCAFile is a PEM file of CAs trusted, besides the system's, for
	// the certificates of trunks called over TLS (see tls_trust.go).
	TLSCAFile string
	// PublicAddr is the host[:port] to advertise in Contact, Via and SDP
	// when it differs from Addr (NAT). Required when Addr's host is a
	// wildcard (0.0.0.0, ::).
	PublicAddr string
	// RTPPortMin and RTPPortMax bound the RTP ports of SDP answers.
	// Default 10000-20000.
	RTPPortMin, RTPPortMax int
	// UserAgent goes in User-Agent and Server headers ("voicedock/1.2.3").
	UserAgent string

	// AnswerDelay is how long an accepted inbound call rings (180) before
	// it is answered. Default 0: answer at once.
	AnswerDelay time.Duration
	// ReferTimeout bounds the wait for a REFER's final response. Default 32s.
	ReferTimeout time.Duration
	// EndedDialogTTL is how long an ended dialog is remembered, so that a
	// late NOTIFY or BYE gets 200 rather than 481. Default 32s.
	EndedDialogTTL time.Duration
	// RetryAfter, when positive, is sent as Retry-After (whole seconds) with
	// every 503 this user agent sends, the core's included.
	RetryAfter time.Duration
	// ShutdownTimeout bounds the shutdown Serve runs when its context ends.
	// Default 5s.
	ShutdownTimeout time.Duration

	// RateLimit is how many messages a second one source address may send
	// (UDP datagrams, TCP reads and TCP connections), in bursts of twice as
	// many; the rest are dropped unanswered before they are parsed. A
	// source the core accepted a call from, or that answered one of our
	// INVITEs, is exempt for 10 minutes after. Default 20; negative: no
	// limit.
	RateLimit int
	// MaxSources bounds the source addresses tracked for RateLimit (those
	// idle for a minute are forgotten); while it is reached, messages from
	// new sources are dropped. Default 65536.
	MaxSources int
	// MaxCalls caps the calls held at once, inbound and outbound: an
	// INVITE beyond it is refused 503 with Retry-After (RetryAfter, else
	// 5 s) before the core is asked, and a Dial beyond it returns
	// core.CodeOverloaded before anything is sent. Default 1000; negative:
	// no cap.
	MaxCalls int

	// OnMessage, when set, is told of every SIP message received (after
	// parsing; dropped ones are not) and every one this user agent sends:
	// in is true for received ones, method is the request's method or,
	// for a response, its CSeq method. The transaction layer's own
	// retransmissions and the ACKs and CANCELs sipgo writes are not
	// seen. It must be fast and never block: metrics count with it.
	OnMessage func(in bool, method string, response bool)

	// Media carries the RTP of answered calls (inbound, and outbound
	// legs Dial places). nil: calls are answered with silence.
	Media *media.Engine
}

// withDefaults fills in what cfg leaves unset.
func withDefaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.RTPPortMin == 0 && cfg.RTPPortMax == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = DefaultRTPPortMin, DefaultRTPPortMax
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "voicedock"
	}
	if cfg.ReferTimeout <= 0 {
		cfg.ReferTimeout = DefaultReferTimeout
	}
	if cfg.EndedDialogTTL <= 0 {
		cfg.EndedDialogTTL = DefaultEndedDialogTTL
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.MaxCalls == 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	return cfg
}

// configure validates the addresses and transports.
func (u *UA) configure() error {
	host, portStr, err := net.SplitHostPort(u.cfg.Addr)
	if err != nil {
		return fmt.Errorf("sip: listen address %q: %w", u.cfg.Addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("sip: listen host %q must be an IP address: %w", host, err)
	}
	u.ip = ip.Unmap()
	u.port, err = strconv.Atoi(portStr)
	if err != nil || u.port < 0 || u.port > 65534 {
		return fmt.Errorf("sip: listen port %q is invalid", portStr)
	}

	u.pubHost = u.ip.String()
	if pa := u.cfg.PublicAddr; pa != "" {
		h, p, err := net.SplitHostPort(pa)
		if err != nil { // no port
			h, p = strings.Trim(pa, "[]"), ""
		}
		if h == "" {
			return fmt.Errorf("sip: public address %q has no host", pa)
		}
		u.pubHost = h
		if p != "" {
			if u.pubPort, err = strconv.Atoi(p); err != nil || u.pubPort < 1 || u.pubPort > 65534 {
				return fmt.Errorf("sip: public address %q has a bad port", pa)
			}
		}
	} else if u.ip.IsUnspecified() {
		return fmt.Errorf("sip: listen address %q is a wildcard: set PublicAddr", u.cfg.Addr)
	}

	hasTLS := u.cfg.TLSCert != "" && u.cfg.TLSKey != ""
	list := u.cfg.Transports
	if len(list) == 0 {
		list = []string{"udp", "tcp"}
		if hasTLS {
			list = append(list, "tls")
		}
	}
	for _, t := range list {
		tp := strings.ToUpper(strings.TrimSpace(t))
		switch tp {
		case tpUDP, tpTCP:
		case tpTLS:
			if !hasTLS {
				return errors.New("sip: transport tls needs TLSCert and TLSKey")
			}
			cert, err := tls.LoadX509KeyPair(u.cfg.TLSCert, u.cfg.TLSKey)
			if err != nil {
				return fmt.Errorf("sip: load TLS certificate: %w", err)
			}
			u.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		default:
			return fmt.Errorf("sip: unknown transport %q", t)
		}
		if !slices.Contains(u.transports, tp) {
			u.transports = append(u.transports, tp)
		}
	}
	return nil
}
