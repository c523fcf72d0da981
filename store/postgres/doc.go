// Package postgres keeps VoiceDock's state in PostgreSQL, for several
// nodes that serve as one: the configuration (assistants, SIP trunks,
// phone numbers), the calls and their transfers, the webhook outbox, the
// conversation, the tasks. It implements the same core interfaces as
// store/sqlite, with the same semantics and error codes, on
// github.com/jackc/pgx/v5.
//
// The schema is created and upgraded by the numbered SQL migrations
// embedded from migrations/, applied under a PostgreSQL advisory lock so
// that nodes starting at once apply each one once. Secrets are sealed
// with AES-256-GCM (store/secret) before they reach the database; every
// node must be given the same key (VOICEDOCK_SECRET_KEY).
//
// What several nodes need of a shared store beyond that:
//   - a configuration change commits with a NOTIFY on ConfigChannel, and
//     WatchConfig LISTENs for them, so each node drops what it cached of
//     the configuration (core.ConfigChanges);
//   - the webhook dispatchers of all nodes claim due deliveries with
//     FOR UPDATE SKIP LOCKED, so each is sent by one node at a time and a
//     claim of a node that died runs out (ClaimDeliveries);
//   - an API key's HTTP rate limit bucket is a row all nodes draw from
//     (TakeToken);
//   - Listen and Notify carry other messages between nodes.
package postgres
