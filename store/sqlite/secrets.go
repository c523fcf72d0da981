package sqlite

import "github.com/voicedock/voicedock/store/secret"

// KeySize is the length of the secret key in bytes (AES-256).
const KeySize = secret.KeySize
