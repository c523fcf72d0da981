package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConfigChannel is the channel a configuration change is announced on,
// with the kind of object changed as the payload.
const ConfigChannel = "voicedock_config"

// The kinds of configuration a NOTIFY on ConfigChannel names.
const (
	configAssistants = "assistants"
	configTrunks     = "trunks"
	configNumbers    = "phone_numbers"
)

// notifyConfig announces a change of the kind of configuration to every
// node. It runs in the change's transaction: PostgreSQL delivers the
// notification when, and only if, the transaction commits.
func notifyConfig(ctx context.Context, tx *sql.Tx, kind string) error {
	if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", ConfigChannel, kind); err != nil {
		return fmt.Errorf("announce the change of %s: %w", kind, err)
	}
	return nil
}

// Reconnecting after a lost LISTEN connection waits from listenRetryMin,
// doubling, up to listenRetryMax.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// WatchConfig calls changed with the kind of configuration ("assistants",
// "trunks", "phone_numbers") after each configuration change committed
// by any node on the database, this one included, until ctx ends; then it
// returns nil. It listens on a connection of its own. When that
// connection is lost, it reconnects (waiting longer each time it fails),
// and once it listens again calls changed with "" (anything may have
// changed meanwhile); it also does so once when it first listens, for
// what changed before.
func (s *Store) WatchConfig(ctx context.Context, changed func(kind string)) error {
	wait := listenRetryMin
	for {
		err := s.listen(ctx, changed, func() { wait = listenRetryMin })
		if ctx.Err() != nil {
			return nil
		}
		s.logger.WarnContext(ctx, "store: configuration changes not heard; reconnecting", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, listenRetryMax)
	}
}

// listen connects, LISTENs on ConfigChannel, and hands each notification
// to changed until the connection fails or ctx ends. listening is called
// once LISTEN holds.
func (s *Store) listen(ctx context.Context, changed func(string), listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.config)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+ConfigChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listening()
	changed("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for a notification: %w", err)
		}
		changed(n.Payload)
	}
}
