package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

// The write-ahead log is copied back into the database file (checkpointed)
// by a goroutine of its own, on a connection of its own, never by the
// writer. SQLite's default, an automatic checkpoint run by the commit that
// takes the log past 1000 pages, put several milliseconds (the copy and
// two fsyncs) inside one commit in a few hundred, and so inside the REFER
// of whichever transfer's first step waited on it: it was most of the p99
// from a transfer_call's arrival to its REFER. The writer connection has
// wal_autocheckpoint off; the checkpointer runs a PASSIVE checkpoint (one
// that takes no lock a writer or reader waits for) whenever the database
// changed since its last look, so that the log stays short and its pages
// are read back from the log rarely.
//
// The log starts again from its beginning only at a write that finds it
// wholly copied back. Under writes that never pause, a checkpoint run
// beside them never quite catches up: they append while it copies. So
// once the log holds walRestartFrames frames, the checkpointer catches up
// with further PASSIVE checkpoints while the writes go on, then holds the
// group commit between two batches (Store.pause) for one last PASSIVE
// checkpoint of the few frames left, and lets it go: the next write finds
// the log copied and starts it again. That is one pause of the writes of
// a small copy and its fsyncs every few thousand pages, where SQLite's own
// checkpoint put a thousand pages' copy in a commit every thousand.
//
// A reader's snapshot keeps frames from being copied and the log from
// starting again. Past walLimitFrames (readers held it that long) the
// checkpointer runs a TRUNCATE checkpoint, which waits for the readers
// (up to checkpointBusy, the writes held meanwhile) and empties the log
// file: the bound on the log's size, and on the disk it takes.
const (
	// checkpointInterval is how often the checkpointer looks for new
	// commits. A tick with none costs a read of the shared-memory index.
	checkpointInterval = 100 * time.Millisecond
	// walRestartFrames is the log's length, 16 MiB in pages of 4 KiB,
	// past which it is made to start again.
	walRestartFrames = 4096
	// catchUpPasses bounds the PASSIVE checkpoints run, the writes going
	// on, to bring what is left to copy down to catchUpFrames.
	catchUpPasses = 4
	catchUpFrames = 128
	// walLimitFrames bounds the log: 64 MiB.
	walLimitFrames = 16384
	// checkpointBusy bounds how long a TRUNCATE checkpoint waits for the
	// writer and the readers (its connection's busy_timeout); it is
	// tried again on the next tick.
	checkpointBusy = 200 * time.Millisecond
	// truncateRetry spaces the TRUNCATE checkpoints that readers keep
	// waiting, so that writers are held back a fifth of the time at most.
	truncateRetry = time.Second
)

// checkpointer runs the write-ahead log's checkpoints (see above).
type checkpointer struct {
	db *sql.DB
	// pause holds the store's group commit between two batches.
	pause  *sync.Mutex
	logger *slog.Logger
	stop   chan struct{}
	done   chan struct{}
	// restartAt and limit are walRestartFrames and walLimitFrames,
	// lowered by tests.
	restartAt, limit atomic.Int64
	// restarts counts the pauses to start the log again, for tests.
	restarts atomic.Int64
	// runs counts the checkpoints that found frames to copy, for tests
	// and the debug log.
	runs atomic.Int64
	// held is whether the last TRUNCATE checkpoint, at triedAt, found
	// readers in its way (run's goroutine only).
	held    bool
	triedAt time.Time
	once    sync.Once
}

// startCheckpointer opens a connection of its own on the database at abs
// and starts checkpointing it.
func startCheckpointer(ctx context.Context, abs string, pause *sync.Mutex, logger *slog.Logger) (*checkpointer, error) {
	db, err := sql.Open("sqlite", checkpointDSN(abs))
	if err != nil {
		return nil, fmt.Errorf("open checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open checkpointer: %w", err)
	}
	c := &checkpointer{db: db, pause: pause, logger: logger, stop: make(chan struct{}), done: make(chan struct{})}
	c.restartAt.Store(walRestartFrames)
	c.limit.Store(walLimitFrames)
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	ctx := context.Background()
	var seen int64 = -1
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		// data_version changes when another connection commits: an idle
		// store is not checkpointed over and over.
		var version int64
		if err := c.db.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
			c.logger.WarnContext(ctx, "store checkpoint: read data version", "err", err)
			continue
		}
		// A log left past its bound is tried again even when idle.
		if version == seen && !c.held {
			continue
		}
		seen = version
		if err := c.checkpoint(ctx); err != nil {
			c.logger.WarnContext(ctx, "store checkpoint", "err", err)
		}
	}
}

// checkpoint copies what it can of the log into the database file, and
// empties the log when it has grown past the limit.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	_, frames, copied, err := c.run1(ctx, "PASSIVE")
	if err != nil {
		return err
	}
	if frames > 0 && copied > 0 {
		c.runs.Add(1)
	}
	limit := c.limit.Load()
	if frames <= min(c.restartAt.Load(), limit) {
		return nil
	}
	if frames <= limit {
		// Catch up while the writes go on, then copy the rest with them
		// held: the next write starts the log again.
		// A pass reports the frames it found and copied, not those the
		// writes appended meanwhile: the pass that found little to copy
		// was short, and so will the one with the writes held be.
		for range catchUpPasses {
			before := copied
			if _, frames, copied, err = c.run1(ctx, "PASSIVE"); err != nil {
				return err
			}
			if frames-before <= catchUpFrames {
				break
			}
		}
		c.pause.Lock()
		_, _, _, err = c.run1(ctx, "PASSIVE")
		c.pause.Unlock()
		c.restarts.Add(1)
		return err
	}
	// A TRUNCATE checkpoint holds the writes back while it waits for the
	// readers: after one that waited in vain, the next waits a while.
	if c.held && time.Since(c.triedAt) < truncateRetry {
		return nil
	}
	c.triedAt = time.Now()
	c.pause.Lock()
	busy, frames, copied, err := c.run1(ctx, "TRUNCATE")
	c.pause.Unlock()
	if err != nil {
		return err
	}
	// Said once while it lasts, not every tick.
	if held := busy != 0; held != c.held {
		c.held = held
		if held {
			c.logger.WarnContext(ctx, "store checkpoint: the write-ahead log is past its bound and readers hold it; trying again",
				"frames", frames, "copied", copied)
		} else {
			c.logger.InfoContext(ctx, "store checkpoint: the write-ahead log is emptied again")
		}
	}
	return nil
}

// run1 runs one checkpoint of the given mode; frames is the log's length
// and copied how many of them are in the database file (-1 when the log
// is not in use), as PRAGMA wal_checkpoint reports them.
func (c *checkpointer) run1(ctx context.Context, mode string) (busy, frames, copied int64, err error) {
	err = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	if sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY {
		// Another connection (another process's checkpointer) holds the
		// checkpoint lock: it is doing the work.
		return 1, 0, 0, nil
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s checkpoint: %w", mode, err)
	}
	return busy, frames, copied, nil
}

// close stops the checkpointer and closes its connection; the store's
// last connection to close checkpoints what is left.
func (c *checkpointer) close() error {
	if c == nil {
		return nil
	}
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
