// Package secret seals the secrets a store keeps (an assistant's webhook
// secret, a trunk's password) with AES-256-GCM before they reach the
// database, bound to their column and row, and decodes the key they are
// sealed with. The SQLite and PostgreSQL stores share it, so that a
// secret is sealed the same way whichever holds it.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the length of the secret key in bytes (AES-256).
const KeySize = 32

// Sealer encrypts secrets for one column of one row. The additional data
// names the column and the row, so a ciphertext copied to another row or
// column does not decrypt.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a sealer with the KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// additionalData binds a secret to its column and row.
func additionalData(column, id string) []byte {
	return []byte(column + ":" + id)
}

// Seal returns nonce||ciphertext of plaintext, or nil (a NULL column) for
// an empty secret.
func (s *Sealer) Seal(plaintext, column, id string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", column, err)
	}
	return s.aead.Seal(nonce, nonce, []byte(plaintext), additionalData(column, id)), nil
}

// Open reverses Seal; a NULL or zero-length column is the empty secret.
func (s *Sealer) Open(sealed []byte, column, id string) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", fmt.Errorf("cannot decrypt %s of %s: ciphertext too short", column, id)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], additionalData(column, id))
	if err != nil {
		return "", fmt.Errorf("cannot decrypt %s of %s: wrong VOICEDOCK_SECRET_KEY? (%w)", column, id, err)
	}
	return string(plain), nil
}

// DecodeKey decodes a KeySize-byte key written as 64 hex characters or as
// base64 in any of its common forms. The error never repeats the input.
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == hex.EncodedLen(KeySize) {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) == KeySize {
				return key, nil
			}
			return nil, fmt.Errorf("the key is %d bytes, want %d; generate one with `openssl rand -base64 32`", len(key), KeySize)
		}
	}
	return nil, fmt.Errorf("the key must be %d bytes given as base64 or as %d hex characters; generate one with `openssl rand -base64 32`", KeySize, hex.EncodedLen(KeySize))
}
