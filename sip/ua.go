package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// Transport names as sipgo spells them on messages.
const (
	tpUDP = "UDP"
	tpTCP = "TCP"
	tpTLS = "TLS"
)

// contactUser is the user part of our Contact and Referred-By.
const contactUser = "voicedock"

// udpReadBuffer is the receive buffer asked for on the UDP listener.
const udpReadBuffer = 4 << 20

// allowMethods and acceptTypes are what we advertise.
const (
	allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY"
	acceptTypes  = "application/sdp, message/sipfrag"
)

// UA is the SIP user agent. It implements core.Signaling.
type UA struct {
	cfg        Config
	handler    core.SignalHandler
	log        *slog.Logger
	ip         netip.Addr // listen address
	port       int        // configured port; 0 picks one
	transports []string   // tpUDP, tpTCP, tpTLS
	pubHost    string     // advertised host
	pubPort    int        // advertised port; 0 means the bound one
	tlsConf    *tls.Config

	stack  *sipgo.UserAgent
	srv    *sipgo.Server
	ports  *portPool
	calls  *registry
	filter *filter
	// writeResponse sends a response outside any transaction (a live
	// call's answered NOTIFY, notify_tx.go): srv.WriteResponse, which the
	// message fuzzer replaces to see every answer.
	writeResponse func(*sip.Response) error
	// sl refuses new INVITEs over UDP without a transaction (stateless.go).
	sl *stateless
	// nonces checks digest answers (digestAuth's check, bound to their
	// source and used once) and makes the challenges.
	nonces *nonceGuard

	// deciding counts the INVITEs admitted under MaxCalls and not yet
	// registered as calls or refused; admitMu orders admissions.
	admitMu  sync.Mutex
	deciding int
	busy     atomic.Uint64 // INVITEs refused at MaxCalls
	panics   atomic.Uint64 // handler panics recovered

	net     atomic.Pointer[netState] // set once listening
	serving atomic.Bool
	closing atomic.Bool
	// gate orders new INVITEs against Shutdown: offers counts the INVITEs
	// being decided on, so Shutdown can wait for them to become calls.
	gate     sync.RWMutex
	offers   sync.WaitGroup
	shutOnce sync.Once
	stopped  chan struct{} // closed when Shutdown has finished
	serveWG  sync.WaitGroup
}

var _ core.Signaling = (*UA)(nil)

// netState is what exists once the listeners are bound.
type netState struct {
	bound    map[string]netip.AddrPort // transport -> bound address
	laddr    map[string]sip.Addr       // transport -> local address to send from
	dialogs  map[string]*sipgo.DialogUA
	contacts map[string]sip.ContactHeader
	closers  []func() error
	udpConn  *net.UDPConn // the UDP listener, which our UDP requests are sent from
}

// New checks cfg and builds the user agent; Serve starts it.
func New(cfg Config, handler core.SignalHandler, logger *slog.Logger) (*UA, error) {
	if handler == nil {
		return nil, errors.New("sip: nil handler")
	}
	if logger == nil {
		return nil, errors.New("sip: nil logger")
	}
	cfg = withDefaults(cfg)
	u := &UA{
		cfg:     cfg,
		handler: handler,
		log:     logger.With("component", "sip"),
		stopped: make(chan struct{}),
		calls:   newRegistry(cfg.EndedDialogTTL),
	}
	u.filter = newFilter(cfg.RateLimit, cfg.MaxSources, u.log)
	u.sl = newStateless()
	auth, err := newDigestAuth()
	if err != nil {
		return nil, err
	}
	if u.nonces, err = newNonceGuard(auth.authorize, auth.newNonce); err != nil {
		return nil, err
	}
	if err := u.configure(); err != nil {
		return nil, err
	}
	ports, err := newPortPool(u.ip, cfg.RTPPortMin, cfg.RTPPortMax)
	if err != nil {
		return nil, fmt.Errorf("sip: %w", err)
	}
	u.ports = ports
	if err := u.buildStack(); err != nil {
		return nil, err
	}
	return u, nil
}

// buildStack creates sipgo's user agent and server and routes every method.
func (u *UA) buildStack() error {
	// sipgo's layers log through stackLog, which keeps what strangers send
	// out of the error log.
	stackLog := slog.New(stackLogHandler{Handler: u.log.Handler(), malformed: &u.filter.malformed})
	clientTLS, err := clientTLSConfig(u.cfg.TLSCAFile)
	if err != nil {
		return err
	}
	stack, err := sipgo.NewUA(
		sipgo.WithUserAgent(u.cfg.UserAgent),
		sipgo.WithUserAgentHostname(u.pubHost),
		sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(stackLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				u.log.Debug("unmatched response (retransmission?)", "response", r.StartLine())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(stackLog),
			sip.WithTransportLayerReadFilter(u.readFilter),
		),
	)
	if err != nil {
		return fmt.Errorf("sip: create user agent: %w", err)
	}
	srv, err := sipgo.NewServer(stack, sipgo.WithServerLogger(u.log))
	if err != nil {
		_ = stack.Close()
		return fmt.Errorf("sip: create server: %w", err)
	}
	u.stack, u.srv, u.writeResponse = stack, srv, srv.WriteResponse
	if u.cfg.OnMessage != nil {
		// The transport layer hands every parsed message to each of its
		// handlers in turn; this one only counts.
		stack.TransportLayer().OnMessage(func(m sip.Message) { u.observe(true, m) })
	}
	for method, h := range u.routes() {
		srv.OnRequest(method, u.guard(h))
	}
	srv.OnNoRoute(u.guard(u.onOther))
	return nil
}

// routes are the handlers by method; onOther handles every other method.
func (u *UA) routes() map[sip.RequestMethod]sipgo.RequestHandler {
	return map[sip.RequestMethod]sipgo.RequestHandler{
		sip.INVITE:  u.onInvite,
		sip.ACK:     u.onAck,
		sip.CANCEL:  u.onCancel,
		sip.BYE:     u.onBye,
		sip.OPTIONS: u.onOptions,
		sip.NOTIFY:  u.endAnsweredOverUDP(u.onNotify),
		sip.REFER:   u.onRefer,
		sip.INFO:    u.onInfo,
	}
}

// handle routes a request as sipgo does, through guard.
func (u *UA) handle(req *sip.Request, tx sip.ServerTransaction) {
	h, ok := u.routes()[req.Method]
	if !ok {
		h = u.onOther
	}
	u.guard(h)(req, tx)
}

// guard keeps a bug in a handler from taking the process down, and
// answers 400 to a request without Call-ID, From, To or CSeq.
func (u *UA) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				u.panics.Add(1)
				u.log.Error("panic handling a SIP request", "method", string(req.Method), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !req.IsAck() && tx != nil {
					_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Server Internal Error", nil))
				}
			}
		}()
		if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
			// RFC 3261 8.1.1: every request has them; sipgo needs only Via
			// and CSeq to make a transaction.
			u.filter.malformed.Add(1)
			if !req.IsAck() && tx != nil {
				u.reply(req, tx, sip.StatusBadRequest, "Bad Request")
			}
			return
		}
		h(req, tx)
	}
}

// LocalAddr is the address the UDP (else TCP) listener is bound to; it is
// valid once Serve has called ready.
func (u *UA) LocalAddr() netip.AddrPort {
	st := u.net.Load()
	if st == nil {
		return netip.AddrPort{}
	}
	for _, tp := range []string{tpUDP, tpTCP, tpTLS} {
		if a, ok := st.bound[tp]; ok {
			return a
		}
	}
	return netip.AddrPort{}
}

// Serve binds every configured transport, calls ready (when not nil) once
// they listen, and serves until ctx is done or Shutdown is called. When
// ctx ends first it shuts down (bounded by ShutdownTimeout).
func (u *UA) Serve(ctx context.Context, ready func()) error {
	if !u.serving.CompareAndSwap(false, true) {
		return errors.New("sip: Serve called twice")
	}
	if u.closing.Load() {
		return errors.New("sip: user agent is shut down")
	}
	st, listeners, err := u.bind()
	if err != nil {
		return err
	}
	if st.udpConn != nil {
		// sipgo adds the listener to its UDP pool when its reader goroutine
		// starts; add it now so that a request sent right after ready goes
		// out from it rather than from a new socket.
		la := st.udpConn.LocalAddr().String()
		u.stack.TransportLayer().Pool("udp").Add(la, &sip.UDPConnection{PacketConn: st.udpConn, PacketAddr: la, Listener: true})
	}
	u.net.Store(st)
	errc := make(chan error, len(listeners))
	for _, serve := range listeners {
		u.serveWG.Add(1)
		go func() {
			defer u.serveWG.Done()
			if err := serve(); err != nil && !u.closing.Load() {
				errc <- err
			}
		}()
	}
	u.log.Info("SIP user agent listening", "addr", u.LocalAddr().String(), "transports", strings.Join(u.transports, ","))
	if ready != nil {
		ready()
	}
	select {
	case <-ctx.Done():
	case <-u.stopped:
		return nil
	case err := <-errc:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg.ShutdownTimeout)
		defer cancel()
		_ = u.Shutdown(sctx)
		return fmt.Errorf("sip: listener failed: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.cfg.ShutdownTimeout)
	defer cancel()
	if err := u.Shutdown(sctx); err != nil {
		return fmt.Errorf("sip: shutdown: %w", err)
	}
	return nil
}

// bind opens the listeners. With port 0 it looks for a port free on every
// transport.
func (u *UA) bind() (*netState, []func() error, error) {
	attempts := 1
	if u.port == 0 {
		// The kernel's pick for UDP is in the ephemeral range, where the
		// machine's outgoing connections take their ports too: on a busy
		// host the same port for TCP, or the next one for TLS, is often
		// taken, so try many picks.
		attempts = 200
	}
	var err error
	for range attempts {
		var st *netState
		var serves []func() error
		st, serves, err = u.tryBind()
		if err == nil {
			return st, serves, nil
		}
	}
	return nil, nil, err
}

func (u *UA) tryBind() (*netState, []func() error, error) {
	st := &netState{
		bound:    map[string]netip.AddrPort{},
		laddr:    map[string]sip.Addr{},
		dialogs:  map[string]*sipgo.DialogUA{},
		contacts: map[string]sip.ContactHeader{},
	}
	var serves []func() error
	fail := func(err error) (*netState, []func() error, error) {
		for _, c := range st.closers {
			_ = c()
		}
		return nil, nil, err
	}
	port := u.port
	for _, tp := range u.transports {
		p := port
		if tp == tpTLS && p != 0 {
			p++
		}
		addr := netip.AddrPortFrom(u.ip, uint16(p))
		switch tp {
		case tpUDP:
			conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
			if err != nil {
				return fail(fmt.Errorf("sip: listen udp %s: %w", addr, err))
			}
			st.closers = append(st.closers, conn.Close)
			// One socket takes every call's UDP messages: a burst (or a
			// moment without CPU) beyond the kernel's default buffer of
			// about 200 KiB is dropped, and SIP retransmits it only
			// after 500 ms. The kernel caps the size at net.core.rmem_max.
			if err := conn.SetReadBuffer(udpReadBuffer); err != nil {
				u.log.Warn("sip: cannot enlarge the UDP receive buffer", "err", err)
			}
			st.bound[tp] = conn.LocalAddr().(*net.UDPAddr).AddrPort()
			serves = append(serves, func() error {
				return u.srv.ServeUDP(conn)
			})
			st.udpConn = conn
		case tpTCP, tpTLS:
			l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
			if err != nil {
				return fail(fmt.Errorf("sip: listen %s %s: %w", strings.ToLower(tp), addr, err))
			}
			st.closers = append(st.closers, l.Close)
			st.bound[tp] = l.Addr().(*net.TCPAddr).AddrPort()
			if tp == tpTLS {
				tl := tls.NewListener(filteredListener{Listener: l, f: u.filter}, u.tlsConf)
				serves = append(serves, func() error { return u.srv.ServeTLS(tl) })
			} else {
				fl := filteredListener{Listener: l, f: u.filter}
				serves = append(serves, func() error { return u.srv.ServeTCP(fl) })
			}
		}
		if port == 0 {
			port = int(st.bound[tp].Port())
			if tp == tpTLS {
				port--
			}
		}
	}
	for _, tp := range u.transports {
		if err := u.addDialogUA(st, tp); err != nil {
			return fail(err)
		}
	}
	return st, serves, nil
}

// addDialogUA prepares what sending on transport tp needs: a client whose
// Via and Contact carry the advertised address, and the local address to
// send from (the UDP listener itself, so replies reach it; for TCP and TLS
// our IP with any port).
func (u *UA) addDialogUA(st *netState, tp string) error {
	bound := st.bound[tp]
	advPort := int(bound.Port())
	if u.pubPort != 0 {
		advPort = u.pubPort
		if tp == tpTLS {
			advPort++
		}
	}
	laddr := sip.Addr{IP: net.IP(u.ip.AsSlice()), Port: int(bound.Port())}
	if tp != tpUDP {
		laddr.Port = 0
	}
	st.laddr[tp] = laddr
	client, err := sipgo.NewClient(u.stack,
		sipgo.WithClientLogger(u.log),
		sipgo.WithClientHostname(u.pubHost),
		sipgo.WithClientPort(advPort),
		sipgo.WithClientConnectionAddr(net.JoinHostPort(u.ip.String(), strconv.Itoa(laddr.Port))),
	)
	if err != nil {
		return fmt.Errorf("sip: create %s client: %w", strings.ToLower(tp), err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: contactUser, Host: u.pubHost, Port: advPort}}
	if tp != tpUDP {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", strings.ToLower(tp))
	}
	st.contacts[tp] = contact
	st.dialogs[tp] = &sipgo.DialogUA{
		Client:     client,
		ContactHDR: contact,
		// On TCP and TLS, in-dialog requests go back over the connection
		// the INVITE came on.
		RewriteContact: tp != tpUDP,
	}
	return nil
}

// Shutdown ends every live call (BYE once answered, 503 while ringing,
// CANCEL while dialling), reports each CallEnded with core.EndShutdown,
// releases their RTP ports and closes the listeners. New calls are refused
// from the start. It is bounded by ctx (ShutdownTimeout when ctx has no
// deadline); calls still up when it expires are reported ended anyway.
func (u *UA) Shutdown(ctx context.Context) error {
	u.gate.Lock()
	u.closing.Store(true)
	u.gate.Unlock()
	first := false
	u.shutOnce.Do(func() { first = true })
	if !first {
		select {
		case <-u.stopped:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("sip: wait for shutdown: %w", ctx.Err())
		}
	}
	defer close(u.stopped)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, u.cfg.ShutdownTimeout)
		defer cancel()
	}
	// INVITEs being decided on become calls (or are refused) first.
	offered := make(chan struct{})
	go func() { u.offers.Wait(); close(offered) }()
	select {
	case <-offered:
	case <-ctx.Done():
	}
	live := u.calls.live()
	var wg sync.WaitGroup
	for _, c := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.end(ctx, c, core.EndShutdown, core.EndShutdown, sip.StatusServiceUnavailable, "Service Unavailable")
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		u.log.Warn("shutdown: calls did not end in time", "calls", len(live))
	}
	for _, c := range live {
		u.finish(c, core.EndShutdown) // no-op for those already ended
	}
	if st := u.net.Load(); st != nil {
		for _, c := range st.closers {
			_ = c()
		}
	}
	if err := u.stack.Close(); err != nil {
		u.log.Debug("close SIP stack", "err", err)
	}
	u.serveWG.Wait()
	stats := u.Stats()
	u.log.Info("SIP user agent stopped", "calls_ended", len(live),
		"rate_limited", stats.RateLimited, "scanners", stats.Scanners, "oversized", stats.Oversized,
		"malformed", stats.Malformed, "conns_refused", stats.ConnsRefused, "busy", stats.Busy, "panics", stats.Panics)
	return nil
}

// prepare sets what every request we originate needs: the transport, the
// local address to send from, and our User-Agent.
func (u *UA) prepare(st *netState, req *sip.Request, tp string) {
	req.SetTransport(tp)
	if la, ok := st.laddr[tp]; ok {
		la.Copy(&req.Laddr)
	}
	if req.GetHeader("User-Agent") == nil {
		req.AppendHeader(sip.NewHeader("User-Agent", u.cfg.UserAgent))
	}
	u.observe(false, req)
}

// observe reports a message to cfg.OnMessage.
func (u *UA) observe(in bool, m sip.Message) {
	if u.cfg.OnMessage == nil {
		return
	}
	switch m := m.(type) {
	case *sip.Request:
		u.cfg.OnMessage(in, string(m.Method), false)
	case *sip.Response:
		method := ""
		if cseq := m.CSeq(); cseq != nil {
			method = string(cseq.MethodName)
		}
		u.cfg.OnMessage(in, method, true)
	}
}

// reply answers a request statelessly within its transaction.
func (u *UA) reply(req *sip.Request, tx sip.ServerTransaction, status int, reason string, hdrs ...sip.Header) {
	u.replyThen(req, tx, status, reason, nil, hdrs...)
}

// replyThen is reply, running sent (when not nil) once the answer has gone
// out and before OnMessage hears of it.
func (u *UA) replyThen(req *sip.Request, tx sip.ServerTransaction, status int, reason string, sent func(), hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, status, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	u.addServerHeaders(res)
	if err := tx.Respond(res); err != nil {
		u.log.Debug("send response", "status", status, "method", string(req.Method), "err", err)
	}
	if sent != nil {
		sent()
	}
	// Seen once sent: a test that waits for an answer to go out then
	// acts on the peer (a live call's NOTIFY answer, notify_tx.go, leaves
	// without its transaction, so nothing else tells it).
	u.observe(false, res)
}

// decorate adds our Server header, and Retry-After to a 503 when
// configured, and tells OnMessage of the response.
func (u *UA) decorate(res *sip.Response) {
	u.addServerHeaders(res)
	u.observe(false, res)
}

func (u *UA) addServerHeaders(res *sip.Response) {
	if res.GetHeader("Server") == nil {
		res.AppendHeader(sip.NewHeader("Server", u.cfg.UserAgent))
	}
	if res.StatusCode == sip.StatusServiceUnavailable && u.cfg.RetryAfter > 0 && res.GetHeader("Retry-After") == nil {
		secs := int((u.cfg.RetryAfter + time.Second - 1) / time.Second)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(secs)))
	}
}

// reportCtx is the context of the reports to the handler. They outlive
// the request that caused them, so it is not cancelled.
func reportCtx() context.Context { return context.Background() }
