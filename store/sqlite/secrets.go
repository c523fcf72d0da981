package sqlite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// KeySize is the length of the secret key in bytes (AES-256).
const KeySize = 32

// sealer encrypts secrets for one column of one row. The additional data
// names the column and the row, so a ciphertext copied to another row or
// column does not decrypt.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
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
	return &sealer{aead: aead}, nil
}

// secretAD is the additional data binding a secret to its column and row.
func secretAD(column, id string) []byte {
	return []byte(column + ":" + id)
}

// seal returns nonce||ciphertext of plaintext, or nil (a NULL column) for
// an empty secret.
func (s *sealer) seal(plaintext, column, id string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", column, err)
	}
	return s.aead.Seal(nonce, nonce, []byte(plaintext), secretAD(column, id)), nil
}

// open reverses seal; a NULL column is the empty secret.
func (s *sealer) open(sealed []byte, column, id string) (string, error) {
	if sealed == nil {
		return "", nil
	}
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", fmt.Errorf("cannot decrypt %s of %s: ciphertext too short", column, id)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], secretAD(column, id))
	if err != nil {
		return "", fmt.Errorf("cannot decrypt %s of %s: wrong VOICEDOCK_SECRET_KEY? (%w)", column, id, err)
	}
	return string(plain), nil
}
