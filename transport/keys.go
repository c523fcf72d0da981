package transport

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MinKeyLength is the shortest API key ParseAPIKeys accepts.
const MinKeyLength = 16

// maxKeyNameLength bounds key names, which appear in logs and audit records.
const maxKeyNameLength = 64

// APIKey is a bearer key with a name (for audit) and a scope.
type APIKey struct {
	Name  string
	Key   string
	Scope string // ScopeRead or ScopeWrite
}

// ParseAPIKeys parses the value of VOICEDOCK_API_KEYS: comma-separated
// entries, each `key`, `name:key` or `name:key:scope` with scope `read` or
// `write` (write when omitted). An unnamed key is named "key<N>", N being
// its 1-based position in the list. Blank entries are ignored.
//
// Empty keys, keys shorter than MinKeyLength or with characters that cannot
// travel in a bearer token, empty or invalid names, unknown scopes, and
// duplicate keys or names are errors. Errors name the entry by position and
// never contain the key itself.
func ParseAPIKeys(s string) ([]APIKey, error) {
	var keys []APIKey
	seenKey := map[string]int{}  // key -> position
	seenName := map[string]int{} // name -> position
	for i, raw := range strings.Split(s, ",") {
		pos := i + 1
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		k, err := parseKeyEntry(entry, pos)
		if err != nil {
			return nil, fmt.Errorf("VOICEDOCK_API_KEYS entry %d: %w", pos, err)
		}
		if prev, dup := seenKey[k.Key]; dup {
			return nil, fmt.Errorf("VOICEDOCK_API_KEYS entry %d: duplicate key (same as entry %d)", pos, prev)
		}
		if prev, dup := seenName[k.Name]; dup {
			return nil, fmt.Errorf("VOICEDOCK_API_KEYS entry %d: duplicate name %q (same as entry %d)", pos, k.Name, prev)
		}
		seenKey[k.Key] = pos
		seenName[k.Name] = pos
		keys = append(keys, k)
	}
	return keys, nil
}

func parseKeyEntry(entry string, pos int) (APIKey, error) {
	parts := strings.Split(entry, ":")
	k := APIKey{Scope: ScopeWrite}
	switch len(parts) {
	case 1:
		k.Name, k.Key = "key"+strconv.Itoa(pos), parts[0]
	case 2:
		k.Name, k.Key = parts[0], parts[1]
	case 3:
		k.Name, k.Key = parts[0], parts[1]
		k.Scope = strings.ToLower(strings.TrimSpace(parts[2]))
	default:
		return APIKey{}, errors.New("too many ':' separators (want key, name:key or name:key:scope)")
	}
	k.Name = strings.TrimSpace(k.Name)
	k.Key = strings.TrimSpace(k.Key)
	if err := validateKeyName(k.Name); err != nil {
		return APIKey{}, err
	}
	if err := validateKey(k.Key); err != nil {
		return APIKey{}, err
	}
	if k.Scope != ScopeRead && k.Scope != ScopeWrite {
		if k.Scope == "" {
			return APIKey{}, errors.New("empty scope (want read or write)")
		}
		return APIKey{}, fmt.Errorf("unknown scope %q (want read or write)", k.Scope)
	}
	return k, nil
}

func validateKeyName(name string) error {
	if name == "" {
		return errors.New("empty key name")
	}
	if len(name) > maxKeyNameLength {
		return fmt.Errorf("key name longer than %d characters", maxKeyNameLength)
	}
	for _, c := range name {
		if !isNameChar(c) {
			return errors.New("key name may only contain letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

func isNameChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// validateKey checks a key without ever putting it in the error.
func validateKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if len(key) < MinKeyLength {
		return fmt.Errorf("key shorter than %d characters", MinKeyLength)
	}
	for i := 0; i < len(key); i++ {
		// Printable ASCII without space: anything else cannot be sent
		// reliably in an Authorization header.
		if c := key[i]; c <= ' ' || c > '~' {
			return errors.New("key contains a space, control or non-ASCII character")
		}
	}
	return nil
}

// keyring matches presented bearer tokens against the configured keys in
// time that does not depend on which key (if any) matched, nor on how much
// of a key was right: the token is hashed first and its digest compared with
// every key's digest, without stopping at a match.
type keyring struct {
	keys    []APIKey
	digests [][sha256.Size]byte
}

func newKeyring(keys []APIKey) (*keyring, error) {
	kr := &keyring{}
	seen := map[string]bool{}
	for i, k := range keys {
		if err := validateKey(k.Key); err != nil {
			return nil, fmt.Errorf("API key %d: %w", i+1, err)
		}
		if seen[k.Key] {
			return nil, fmt.Errorf("API key %d: duplicate key", i+1)
		}
		seen[k.Key] = true
		if k.Name == "" {
			k.Name = "key" + strconv.Itoa(i+1)
		}
		switch k.Scope {
		case "":
			k.Scope = ScopeWrite
		case ScopeRead, ScopeWrite:
		default:
			return nil, fmt.Errorf("API key %d (%s): unknown scope %q", i+1, k.Name, k.Scope)
		}
		kr.keys = append(kr.keys, APIKey{Name: k.Name, Scope: k.Scope}) // the key itself is not kept
		kr.digests = append(kr.digests, sha256.Sum256([]byte(k.Key)))
	}
	return kr, nil
}

func (kr *keyring) empty() bool { return len(kr.digests) == 0 }

// match returns the key whose value is token.
func (kr *keyring) match(token string) (APIKey, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range kr.digests {
		eq := subtle.ConstantTimeCompare(d[:], kr.digests[i][:])
		// Branch-free select of the matching index.
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 || token == "" {
		return APIKey{}, false
	}
	return kr.keys[found], true
}

// bearerToken extracts the token of an `Authorization: Bearer <token>`
// header (scheme case-insensitive, RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
