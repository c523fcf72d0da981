package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// WellKnownPath is where RFC 9728 puts Protected Resource Metadata; a
// resource with a path (https://host/mcp) has it at WellKnownPath
// followed by that path as well.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// metadata is the Protected Resource Metadata document (RFC 9728 §2).
type metadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// MetadataPaths are the paths the metadata is served at: the path-suffixed
// form first (what MCP clients ask for), then the root form.
func (v *Verifier) MetadataPaths() []string {
	u, _ := url.Parse(v.cfg.Resource) // checked by New
	paths := []string{}
	if p := strings.TrimSuffix(u.EscapedPath(), "/"); p != "" {
		paths = append(paths, WellKnownPath+p)
	}
	return append(paths, WellKnownPath)
}

// MetadataURL is the metadata's absolute URL, for resource_metadata.
func (v *Verifier) MetadataURL() string {
	u, _ := url.Parse(v.cfg.Resource)
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: v.MetadataPaths()[0]}).String()
}

// ServeMetadata answers GET and HEAD with the metadata document.
func (v *Verifier) ServeMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	// Browser-based MCP clients read it from another origin; it holds
	// nothing secret.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(metadata{
		Resource:               v.cfg.Resource,
		AuthorizationServers:   []string{v.cfg.Issuer},
		ScopesSupported:        []string{ScopeRead, ScopeWrite},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "voicedock",
	})
}

// Challenge is the WWW-Authenticate value of a refusal for err (nil: no
// token was sent), and the status to answer with: 403 for a valid token
// without either scope, else 401.
func (v *Verifier) Challenge(err error) (string, int) {
	h := fmt.Sprintf(`Bearer resource_metadata="%s", scope="%s %s"`, v.MetadataURL(), ScopeRead, ScopeWrite)
	switch {
	case err == nil:
		return h, http.StatusUnauthorized
	case errors.Is(err, ErrInsufficientScope):
		return h + `, error="insufficient_scope"`, http.StatusForbidden
	default:
		return h + `, error="invalid_token"`, http.StatusUnauthorized
	}
}
