package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// The scopes a token may carry for this server.
const (
	ScopeRead  = "voicedock:read"
	ScopeWrite = "voicedock:write"
)

// Limits on what is parsed.
const (
	// MaxTokenBytes bounds an access token; longer ones are refused
	// before they are decoded.
	MaxTokenBytes = 8 << 10
	// leeway allows for clocks that differ a little.
	leeway = 30 * time.Second
)

// Errors a token is refused with. ErrInsufficientScope is a valid token
// that grants neither scope (403); the others are invalid tokens (401).
var (
	ErrInvalidToken      = errors.New("invalid access token")
	ErrInsufficientScope = errors.New("the access token grants neither " + ScopeRead + " nor " + ScopeWrite)
)

// Config configures a Verifier.
type Config struct {
	// Issuer is the authorization server's issuer identifier, which
	// tokens carry as iss and the metadata names.
	Issuer string
	// JWKSURL is where the issuer's signing keys are published.
	JWKSURL string
	// Resource is this server's resource URL (its /mcp endpoint), which
	// tokens must carry as aud.
	Resource string
	// Client fetches the JWKS; nil is a client with a 10 s timeout.
	Client *http.Client
}

// Principal is who a valid token speaks for.
type Principal struct {
	// Subject is the token's sub (the user), ClientID its client_id or
	// azp (the MCP client), both possibly empty.
	Subject  string
	ClientID string
	// Write says the token grants ScopeWrite; without it, ScopeRead.
	Write bool
}

// Verifier validates access tokens. Create it with New; it is safe for
// concurrent use.
type Verifier struct {
	cfg    Config
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
	now    func() time.Time
}

// claims are the claims read from an access token (RFC 9068).
type claims struct {
	jwt.RegisteredClaims
	Scope    string   `json:"scope"`
	Scp      []string `json:"scp"`
	ClientID string   `json:"client_id"`
	AZP      string   `json:"azp"`
}

// signingMethods are the asymmetric algorithms accepted: an HMAC token
// would need a secret shared with the issuer, and "none" is no signature.
var signingMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// New checks cfg and starts fetching the issuer's keys; ctx ends the
// background refresh. The first fetch may fail (the issuer is down): the
// keys are fetched again when a token names a key not yet known.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Verifier, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	noErr := true
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               10 * time.Second,
		NoErrorReturnFirstHTTPReq: &noErr,
		RefreshInterval:           time.Hour,
		// A token signed with a key we do not know yet (the issuer
		// rotated) fetches the set again, at most once a minute, so
		// that made-up key ids cannot make us hammer the issuer.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(time.Minute), 1),
		RateLimitWaitMax:  time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "oauth: fetching the issuer's keys failed", "jwks_url", u, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("oauth: the issuer's keys: %w", err)
	}
	v := &Verifier{cfg: cfg, keys: keys, now: time.Now}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(signingMethods),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Resource),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v, nil
}

func (c Config) check() error {
	if c.Issuer == "" || c.JWKSURL == "" || c.Resource == "" {
		return errors.New("oauth: the issuer, its JWKS URL and the resource URL are all required")
	}
	for name, s := range map[string]string{"issuer": c.Issuer, "JWKS URL": c.JWKSURL, "resource URL": c.Resource} {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
			return fmt.Errorf("oauth: the %s %q is not an absolute URL", name, s)
		}
		// Plain http only for a server on this machine (a test issuer,
		// a local gateway): anywhere else the keys and the metadata
		// could be swapped on the way.
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
			return fmt.Errorf("oauth: the %s %q must be https", name, s)
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// Verify checks token (the part after "Bearer ") and returns whom it
// speaks for. Every failure wraps ErrInvalidToken or ErrInsufficientScope;
// the wrapped detail is for the log, not for the client.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > MaxTokenBytes {
		return Principal{}, fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	var c claims
	t, err := v.parser.ParseWithClaims(token, &c, v.keys.KeyfuncCtx(ctx))
	if err != nil || !t.Valid {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// RFC 9068 names the type at+jwt; issuers that predate it say JWT or
	// nothing. Anything else (an ID token's "id_token+jwt", a logout
	// token) is not an access token.
	if typ, _ := t.Header["typ"].(string); typ != "" && !slices.Contains([]string{"at+jwt", "application/at+jwt", "jwt"}, strings.ToLower(typ)) {
		return Principal{}, fmt.Errorf("%w: token type %q is not an access token", ErrInvalidToken, typ)
	}
	p := Principal{Subject: c.Subject, ClientID: c.ClientID}
	if p.ClientID == "" {
		p.ClientID = c.AZP
	}
	scopes := append(strings.Fields(c.Scope), c.Scp...)
	switch {
	case slices.Contains(scopes, ScopeWrite):
		p.Write = true
	case slices.Contains(scopes, ScopeRead):
	default:
		return p, ErrInsufficientScope
	}
	return p, nil
}
