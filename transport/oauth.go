package transport

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/voicedock/voicedock/oauth"
)

// OAuth access tokens, beside the static API keys: HTTPConfig.OAuth
// makes the transport a resource server for an external authorization
// server (the MCP authorization specification). A bearer that is not one
// of the keys is checked as an access token. The functions take the
// verifier (nil: no OAuth) so that the guard calls them.

// maxSubjectLength bounds the part of a token's subject that names the
// caller in logs, audit records and rate-limit buckets.
const maxSubjectLength = 48

// tokenCaller is the caller an OAuth access token speaks for. The token
// goes no further: it is removed from the request, so that nothing the
// MCP server runs can read it or send it on.
func tokenCaller(v *oauth.Verifier, logger *slog.Logger, r *http.Request, token string) (Caller, bool) {
	if v == nil {
		return Caller{}, false
	}
	p, err := v.Verify(r.Context(), token)
	if err != nil {
		logger.Debug("access token refused", "err", err, "remote", r.RemoteAddr)
		return Caller{}, false
	}
	r.Header.Del("Authorization")
	c := Caller{KeyName: "oauth:" + callerName(p), Scope: ScopeRead, Transport: TransportHTTP}
	if p.Write {
		c.Scope = ScopeWrite
	}
	return c, true
}

// callerName names a token's principal in the key-name alphabet:
// subject, else client, cut short.
func callerName(p oauth.Principal) string {
	name := p.Subject
	if name == "" {
		name = p.ClientID
	}
	name = strings.Map(func(c rune) rune {
		if isNameChar(c) || c == '@' || c == '|' || c == ':' {
			return c
		}
		return '_'
	}, name)
	if len(name) > maxSubjectLength {
		name = name[:maxSubjectLength]
	}
	if name == "" {
		name = "token"
	}
	return name
}

// writeUnauthorized answers a request without valid credentials. With
// OAuth (v not nil) the challenge points the client at the Protected
// Resource Metadata (RFC 9728 §5.1) and says why a token was refused; a
// valid token without either scope gets 403 insufficient_scope. It
// returns the reason for the rejection log.
func writeUnauthorized(w http.ResponseWriter, r *http.Request, v *oauth.Verifier) string {
	if v == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="voicedock"`)
		writeAPIError(w, http.StatusUnauthorized, "unauthorized", "Invalid or missing API key")
		return "missing or invalid API key"
	}
	var err error
	if token, sent := bearerToken(r.Header.Get("Authorization")); sent {
		// Checked again to say why: a refusal is rare next to the
		// requests that pass, and this keeps the reason out of the
		// path every request takes.
		if _, err = v.Verify(r.Context(), token); err == nil {
			err = oauth.ErrInvalidToken // a key-shaped bearer that is no key
		}
	}
	challenge, status := v.Challenge(err)
	w.Header().Set("WWW-Authenticate", challenge)
	if status == http.StatusForbidden {
		writeAPIError(w, status, "forbidden", "The access token grants neither "+oauth.ScopeRead+" nor "+oauth.ScopeWrite)
		return "access token without a voicedock scope"
	}
	msg := "Invalid or missing API key or access token"
	if errors.Is(err, oauth.ErrInvalidToken) {
		msg = "Invalid access token"
	}
	writeAPIError(w, status, "unauthorized", msg)
	return "missing or invalid API key or access token"
}

// withOAuthMetadata serves the Protected Resource Metadata at v's paths
// ahead of next: without credentials and for any origin, since clients
// read it to learn how to get a token. Without v it is next.
func withOAuthMetadata(v *oauth.Verifier, next http.Handler) http.Handler {
	if v == nil {
		return next
	}
	mux := http.NewServeMux()
	for _, p := range v.MetadataPaths() {
		mux.HandleFunc(p, v.ServeMetadata)
	}
	mux.Handle("/", next)
	return mux
}
