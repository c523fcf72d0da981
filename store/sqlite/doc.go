// Package sqlite keeps VoiceDock's configuration (assistants, SIP trunks and
// phone numbers), its call records (calls and their transfers) and the
// webhook outbox in an embedded SQLite database, implementing core.Store,
// core.CallStore and core.DeliveryStore with modernc.org/sqlite, so the
// binary needs no cgo and no database server. Webhook deliveries are
// written in the transaction of the call change they announce.
//
// The database runs in WAL mode with one writer connection, through which
// every change goes in a transaction, and a pool of read-only connections
// for queries. The schema is created and upgraded by the numbered SQL
// migrations embedded from migrations/. Secrets (an assistant's webhook
// secret, a trunk's password) are sealed with AES-256-GCM before they reach
// the file; the key comes from VOICEDOCK_SECRET_KEY or from a key file that
// LoadOrCreateKey creates in the data directory.
package sqlite
