// Package oauth makes the HTTP transport an OAuth 2.1 resource server, as
// the MCP authorization specification asks of a remote MCP server: an
// external authorization server issues JWT access tokens for this
// server's resource URL, and this package
//
//   - serves the Protected Resource Metadata (RFC 9728) that tells a
//     client which authorization server to ask and for which scopes;
//   - builds the WWW-Authenticate challenge pointing at that metadata;
//   - validates access tokens: the signature against the issuer's JWKS
//     (fetched and refreshed by MicahParks/keyfunc; parsing and checks by
//     golang-jwt/jwt), iss, aud equal to the resource URL (RFC 8707),
//     exp and nbf, and maps their scopes to the read and write scopes of
//     the tools.
//
// A token is only ever checked here: nothing passes it on to anything
// else (the transport removes it from the request before the MCP server
// sees it), as the specification requires of a resource server.
package oauth
