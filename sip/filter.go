package sip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"
)

// What the inbound filter keeps and for how long.
const (
	// sourceIdle is how long a source is remembered after its last
	// message; its bucket has refilled long before.
	sourceIdle = time.Minute
	// trustFor is how long a source stays exempt from the rate limit after
	// the core accepted a call from it or it answered one of our INVITEs.
	trustFor = 10 * time.Minute
	// dropLogEvery spaces the warnings about one source's dropped messages.
	dropLogEvery = time.Minute
	// maxConnsPerSource bounds the TCP and TLS connections one address may
	// hold open: each costs a goroutine and a read buffer in sipgo.
	maxConnsPerSource = 32
)

// Why the filter dropped a message.
const (
	dropRate      = iota // over the source's rate limit, or no room to track it
	dropScanner          // a scanner's User-Agent
	dropOversized        // a UDP datagram larger than the read buffer (truncated)
	dropReasons
)

var dropNames = [dropReasons]string{"rate_limited", "scanner", "oversized"}

// errDropped closes a TCP or TLS connection whose read the filter refused:
// a stream has no message boundary to resume at once bytes are skipped.
var errDropped = errors.New("sip: dropped by the inbound filter")

// Stats are the user agent's counters since it was created.
type Stats struct {
	// RateLimited counts UDP datagrams, TCP reads and TCP connections
	// dropped because their source was over RateLimit (or could not be
	// tracked, MaxSources being reached).
	RateLimited uint64
	// Scanners counts messages dropped for a scanner's User-Agent.
	Scanners uint64
	// Oversized counts UDP datagrams dropped for being larger than the
	// read buffer (the kernel truncates them).
	Oversized uint64
	// Malformed counts messages the SIP stack could not parse or could not
	// make a transaction of (the latter are answered 400).
	Malformed uint64
	// ConnsRefused counts TCP and TLS connections closed on accept: their
	// source already held maxConnsPerSource.
	ConnsRefused uint64
	// Busy counts INVITEs refused with 503 for want of room: at MaxCalls,
	// or while the core refuses new calls (core.CallAdmitter). Over UDP
	// they are refused without state (stateless.go), so a retransmitted
	// INVITE is answered, and counted, again.
	Busy uint64
	// Panics counts request handlers that panicked (and were recovered).
	Panics uint64
	// Sources is the number of source addresses tracked now.
	Sources int
}

// Stats returns the user agent's counters.
func (u *UA) Stats() Stats {
	f := u.filter
	s := Stats{
		RateLimited:  f.drops[dropRate].Load(),
		Scanners:     f.drops[dropScanner].Load(),
		Oversized:    f.drops[dropOversized].Load(),
		Malformed:    f.malformed.Load(),
		ConnsRefused: f.connsRefused.Load(),
		Busy:         u.busy.Load(),
		Panics:       u.panics.Load(),
	}
	f.mu.Lock()
	s.Sources = len(f.sources)
	f.mu.Unlock()
	return s
}

// scannerAgents are User-Agent substrings (lower case) of SIP scanners
// and war-diallers. A request that carries one is dropped unanswered: an
// answer only confirms to the scanner that something listens.
func scannerAgents() []string {
	return []string{
		"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "vaxsipuseragent",
		"pplsip", "iwar", "sundayddr", "sipsak",
	}
}

// isScanner reports whether a User-Agent value is a scanner's.
func isScanner(userAgent string) bool {
	if userAgent == "" {
		return false
	}
	ua := strings.ToLower(userAgent)
	for _, s := range scannerAgents() {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// userAgentOf finds the User-Agent header in the header block of raw
// message bytes ("" when there is none). It reads bytes before any parser
// has: a line is a header line when it starts with the name.
func userAgentOf(data []byte) string {
	if end := bytes.Index(data, []byte("\n\r\n")); end >= 0 {
		data = data[:end+1]
	} else if end := bytes.Index(data, []byte("\n\n")); end >= 0 {
		data = data[:end+1]
	}
	const name = "user-agent"
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) <= len(name) || !strings.EqualFold(string(line[:len(name)]), name) {
			continue
		}
		rest := bytes.TrimLeft(line[len(name):], " \t")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		return string(bytes.TrimSpace(rest[1:]))
	}
	return ""
}

// filter sees every UDP datagram, TCP read and TCP connection before the
// SIP stack does, and drops floods, scanners and truncated datagrams
// there: a dropped message costs no parse, no transaction, no goroutine
// and no answer.
type filter struct {
	limit      rate.Limit // 0: no rate limit
	burst      int
	maxSources int
	now        func() time.Time
	log        *slog.Logger

	drops        [dropReasons]atomic.Uint64
	malformed    atomic.Uint64
	connsRefused atomic.Uint64

	mu        sync.Mutex
	sources   map[netip.Addr]*source
	conns     map[netip.Addr]int // open TCP and TLS connections
	lastSweep time.Time
	fullSince time.Time // when the table was last found full (zero: not full)
}

// source is what the filter knows of one address.
type source struct {
	lim     *rate.Limiter
	seen    time.Time
	trusted time.Time // exempt from the rate limit until then
	// dropped counts the drops not yet logged, by reason; warned is when
	// they were last logged.
	dropped [dropReasons]int
	warned  time.Time
}

// dropReport is a warning to log once the filter's lock is released.
type dropReport struct {
	src     netip.Addr
	dropped [dropReasons]int
}

func newFilter(perSecond, maxSources int, logger *slog.Logger) *filter {
	f := &filter{
		maxSources: maxSources,
		now:        time.Now,
		log:        logger,
		sources:    map[netip.Addr]*source{},
		conns:      map[netip.Addr]int{},
	}
	if perSecond > 0 {
		f.limit, f.burst = rate.Limit(perSecond), 2*perSecond
	}
	return f
}

// addrOf is the IP address of a socket address (the zero Addr when it has
// none).
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// read is sipgo's TransportReadFilter. A dropped UDP datagram is skipped
// (nil data); a dropped TCP or TLS read closes the connection.
func (f *filter) read(p sip.TransportReadProps, data []byte) ([]byte, error) {
	stream := p.Transport != tpUDP
	reason := -1
	switch {
	case !stream && len(data) >= int(sip.TransportBufferReadSize):
		reason = dropOversized
	case isScanner(userAgentOf(data)):
		reason = dropScanner
	}
	if !f.admit(addrOf(p.RemoteAddr), reason) {
		if stream {
			return nil, errDropped
		}
		return nil, nil
	}
	return data, nil
}

// admit takes one message from src through the rate limit and reports
// whether it may pass; reason, when not -1, drops it anyway (and is what
// is counted and logged).
func (f *filter) admit(src netip.Addr, reason int) bool {
	if f.limit == 0 && reason < 0 {
		return true
	}
	now := f.now()
	f.mu.Lock()
	reports := f.maybeSweep(now)
	s := f.source(now, src)
	switch {
	case reason >= 0:
	case s == nil:
		reason = dropRate
	case f.limit > 0 && now.After(s.trusted) && !s.lim.AllowN(now, 1):
		reason = dropRate
	}
	if reason >= 0 {
		f.drops[reason].Add(1)
		if s != nil {
			s.dropped[reason]++
			if now.Sub(s.warned) >= dropLogEvery {
				reports = append(reports, dropReport{src: src, dropped: s.dropped})
				s.dropped = [dropReasons]int{}
				s.warned = now
			}
		}
	}
	full := s == nil && (f.fullSince.IsZero() || now.Sub(f.fullSince) >= dropLogEvery)
	if full {
		f.fullSince = now
	}
	f.mu.Unlock()
	f.report(reports)
	if full {
		f.log.Warn("SIP sources table full: messages from new sources are dropped", "max_sources", f.maxSources)
	}
	return reason < 0
}

// source returns src's entry, made when new; nil when the table is full.
// f.mu is held.
func (f *filter) source(now time.Time, src netip.Addr) *source {
	s := f.sources[src]
	if s == nil {
		if len(f.sources) >= f.maxSources {
			return nil
		}
		s = &source{lim: rate.NewLimiter(f.limit, f.burst)}
		f.sources[src] = s
	}
	s.seen = now
	return s
}

// maybeSweep forgets the sources idle for sourceIdle and not trusted:
// once a minute, and at most once a second while the table is full. It
// returns the drop counts of the forgotten sources not logged yet. f.mu is
// held.
func (f *filter) maybeSweep(now time.Time) []dropReport {
	since := now.Sub(f.lastSweep)
	if since < sourceIdle && (len(f.sources) < f.maxSources || since < time.Second) {
		return nil
	}
	f.lastSweep = now
	var reports []dropReport
	for a, s := range f.sources {
		if now.Sub(s.seen) < sourceIdle || now.Before(s.trusted) {
			continue
		}
		if s.dropped != [dropReasons]int{} {
			reports = append(reports, dropReport{src: a, dropped: s.dropped})
		}
		delete(f.sources, a)
	}
	if len(f.sources) < f.maxSources {
		f.fullSince = time.Time{}
	}
	return reports
}

// report logs the drops of each source (once a minute at most per
// source).
func (f *filter) report(reports []dropReport) {
	for _, r := range reports {
		args := []any{"source", r.src.String()}
		for i, n := range r.dropped {
			if n > 0 {
				args = append(args, dropNames[i], n)
			}
		}
		f.log.Warn("SIP messages dropped", args...)
	}
}

// trust exempts src from the rate limit for trustFor: the core accepted a
// call from it, or it answered our INVITE.
func (f *filter) trust(src netip.Addr) {
	if f.limit == 0 || !src.IsValid() {
		return
	}
	now := f.now()
	f.mu.Lock()
	reports := f.maybeSweep(now)
	if s := f.source(now, src); s != nil {
		s.trusted = now.Add(trustFor)
	}
	f.mu.Unlock()
	f.report(reports)
}

// openConn admits a new TCP or TLS connection from src: it counts against
// the rate limit, and src may hold maxConnsPerSource at most.
func (f *filter) openConn(src netip.Addr) bool {
	if !f.admit(src, -1) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns[src] >= maxConnsPerSource {
		f.connsRefused.Add(1)
		return false
	}
	f.conns[src]++
	return true
}

func (f *filter) closeConn(src netip.Addr) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns[src]--; f.conns[src] <= 0 {
		delete(f.conns, src)
	}
}

// openConns is the number of TCP and TLS connections open now.
func (f *filter) openConns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.conns {
		n += c
	}
	return n
}

// filteredListener passes the connections the filter admits; the others
// are closed at once.
type filteredListener struct {
	net.Listener
	f *filter
}

func (l filteredListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := addrOf(c.RemoteAddr())
		if !l.f.openConn(src) {
			_ = c.Close()
			continue
		}
		return &filteredConn{Conn: c, release: func() { l.f.closeConn(src) }}, nil
	}
}

// filteredConn gives its source's slot back when closed.
type filteredConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *filteredConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// stackLogHandler is the log handler of sipgo's transport and transaction
// layers. They log every message they cannot parse at Error, with the
// whole message: bytes a stranger chose, up to 64 KiB a time. Here those
// are counted as malformed and logged at Debug, and any long value is
// clipped.
type stackLogHandler struct {
	slog.Handler
	malformed *atomic.Uint64
}

// maxLoggedValue bounds a string value logged from the SIP stack.
const maxLoggedValue = 512

func (h stackLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.Handler.Enabled(ctx, l)
}

func (h stackLogHandler) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	if quiet, malformed := peerCaused(r); quiet {
		if malformed {
			h.malformed.Add(1)
		}
		level = slog.LevelDebug
	}
	if !h.Handler.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindString && len(a.Value.String()) > maxLoggedValue {
			a.Value = slog.StringValue(clip(a.Value.String(), maxLoggedValue))
		}
		out.AddAttrs(a)
		return true
	})
	return h.Handler.Handle(ctx, out)
}

// peerCaused reports whether a record of the SIP stack is about what the
// far side sent rather than a fault of ours (quiet: log it at Debug), and
// whether that was a malformed message.
func peerCaused(r slog.Record) (quiet, malformed bool) {
	switch r.Message {
	case "failed to parse":
		return true, true
	case "Read filter error": // errDropped: counted by the filter
		return true, false
	case "Server tx failed to handle request":
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" && strings.Contains(a.Value.String(), "make key failed") {
				found = true
			}
			return !found
		})
		return found, found
	}
	return false, false
}

func (h stackLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return stackLogHandler{Handler: h.Handler.WithAttrs(attrs), malformed: h.malformed}
}

func (h stackLogHandler) WithGroup(name string) slog.Handler {
	return stackLogHandler{Handler: h.Handler.WithGroup(name), malformed: h.malformed}
}
