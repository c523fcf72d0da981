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
// returns nil. Each time it starts listening (first, and after a lost
// connection, during which changes may have been missed) it calls
// changed with "", for anything.
func (s *Store) WatchConfig(ctx context.Context, changed func(kind string)) error {
	return s.Listen(ctx, ConfigChannel, func() { changed("") }, changed)
}

// Notify sends payload on channel to every session listening on it, now
// (not in a transaction of a change).
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if _, err := s.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Listen LISTENs on channel on a connection of its own and calls
// onNotify with each notification's payload, until ctx ends; then it
// returns nil. onListen is called each time the LISTEN holds: first, and
// after a lost connection was made again (waiting longer after each
// failure), when notifications may have been missed meanwhile. The
// callbacks run one at a time, on Listen's goroutine.
func (s *Store) Listen(ctx context.Context, channel string, onListen func(), onNotify func(payload string)) error {
	wait := listenRetryMin
	for {
		err := s.listen(ctx, channel, func() {
			wait = listenRetryMin
			onListen()
		}, onNotify)
		if ctx.Err() != nil {
			return nil
		}
		s.logger.WarnContext(ctx, "store: notifications not heard; reconnecting", "channel", channel, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, listenRetryMax)
	}
}

// listen connects, LISTENs on channel, and hands each notification to
// onNotify until the connection fails or ctx ends.
func (s *Store) listen(ctx context.Context, channel string, onListen func(), onNotify func(string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.config)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	onListen()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for a notification: %w", err)
		}
		onNotify(n.Payload)
	}
}
