package transport

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
)

// Headers of a request one node carries to the node holding a call
// (see package peer), besides the node key as its bearer token.
const (
	// HeaderNode is the id of the node that carries the request.
	HeaderNode = "X-Voicedock-Node"
	// HeaderActor is who asked that node: the name of their API key or
	// token, recorded on what the request changes (the audit trail).
	HeaderActor = "X-Voicedock-Actor"
)

// maxHeaderName bounds the node id and actor a node request names.
const maxHeaderName = 128

// nodeKey matches the key the nodes of a cluster share
// (VOICEDOCK_NODE_KEY) in constant time, as keyring matches API keys.
type nodeKey struct {
	digest [sha256.Size]byte
}

// newNodeKey returns the matcher of key; nil when key is "" (one node).
func newNodeKey(key string) (*nodeKey, error) {
	if key == "" {
		return nil, nil
	}
	if err := validateKey(key); err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	return &nodeKey{digest: sha256.Sum256([]byte(key))}, nil
}

// caller returns the caller of a request another node carried here:
// authenticated by the node key, with write scope (the node that took
// the request checked its client's), as the actor that node names. A
// request with the node key and no node id is not a node's.
func (k *nodeKey) caller(r *http.Request) (Caller, bool) {
	if k == nil {
		return Caller{}, false
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return Caller{}, false
	}
	d := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(d[:], k.digest[:]) != 1 {
		return Caller{}, false
	}
	node := r.Header.Get(HeaderNode)
	if !printable(node) {
		return Caller{}, false
	}
	actor := r.Header.Get(HeaderActor)
	if !printable(actor) {
		actor = "node:" + node
	}
	return Caller{KeyName: actor, Scope: ScopeWrite, Transport: TransportHTTP, Node: node}, true
}

// printable reports whether s is a non-empty, short run of printable
// ASCII: what a node id or actor name in a header may be.
func printable(s string) bool {
	if s == "" || len(s) > maxHeaderName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return true
}
