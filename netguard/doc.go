// Package netguard makes HTTP clients for URLs that come from untrusted
// input (a tool's message_audio_url, an assistant's webhook_url) and
// refuses to let them reach the server's own network: loopback, private,
// link-local (the cloud metadata address), CGNAT, multicast, unspecified
// and other special-purpose addresses, in IPv4, IPv6 and IPv4-mapped form.
//
// The check is made on the address actually dialled, in the dialer's
// Control hook, for every connection: a redirect, a second A record or a
// DNS answer that changes between check and use (DNS rebinding) are all
// caught, which a check of the URL's text cannot do. Proxies from the
// environment are not used, since the proxy would make the connection the
// check cannot see.
package netguard
