package sqlite

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/voicedock/voicedock/store/secret"
)

// KeyFileName is the file in the data directory that holds the generated
// secret key when VOICEDOCK_SECRET_KEY is not set.
const KeyFileName = "secret.key"

// LoadOrCreateKey returns the 32-byte key that encrypts secrets at rest.
//
// configured is the value of VOICEDOCK_SECRET_KEY. When it is set it must
// decode to exactly 32 bytes, from base64 (standard or URL alphabet, padded
// or not) or from 64 hex characters. When it is empty the key is read from
// <dataDir>/secret.key, which is created (mode 0600, in a data directory
// created with mode 0700) with a random key the first time. Of two
// processes creating it at once, one wins and both use its key.
func LoadOrCreateKey(dataDir, configured string) ([]byte, error) {
	if configured != "" {
		key, err := secret.DecodeKey(configured)
		if err != nil {
			return nil, fmt.Errorf("VOICEDOCK_SECRET_KEY: %w", err)
		}
		return key, nil
	}
	if dataDir == "" {
		return nil, errors.New("secret key: no VOICEDOCK_SECRET_KEY and no data directory for " + KeyFileName)
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("secret key: create data directory: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret key: generate: %w", err)
	}
	created, err := createKeyFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"))
	if err != nil {
		return nil, err
	}
	if !created {
		// Another process got there first: use its key.
		return readKeyFile(path)
	}
	return key, nil
}

// readKeyFile reads and decodes a key file; a missing file is an error
// wrapping fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key: read %s: %w", path, err)
	}
	key, err := secret.DecodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes content to path only if path does not exist yet,
// and reports whether it did. The file appears complete or not at all: the
// content goes to a temporary file that is then hard-linked into place,
// which fails if path exists. Where hard links are not supported it falls
// back to creating path with O_EXCL.
func createKeyFile(path string, content []byte) (bool, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+KeyFileName+".*")
	if err != nil {
		return false, fmt.Errorf("secret key: create %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeAndClose(tmp, content); err != nil {
		return false, fmt.Errorf("secret key: write %s: %w", tmpName, err)
	}
	linkErr := os.Link(tmpName, path)
	switch {
	case linkErr == nil:
		return true, nil
	case errors.Is(linkErr, fs.ErrExist):
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("secret key: create %s: %w", path, errors.Join(err, linkErr))
	}
	if err := writeAndClose(f, content); err != nil {
		return false, fmt.Errorf("secret key: write %s: %w", path, err)
	}
	return true, nil
}

func writeAndClose(f *os.File, content []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
