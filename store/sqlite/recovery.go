package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// liveCallStatuses are the statuses of a call still up (core.Call.Live).
var liveCallStatuses = sqlStrings(core.CallRinging, core.CallDialing, core.CallInProgress)

// EndLiveCalls ends every call still ringing, dialing or in progress, and
// cancels those calls' transfers that had not ended, by core's rules for
// what a stopped process left behind (core.Call.EndStopped and
// core.Transfer.CancelStopped). It returns how many calls it ended; all
// of it is one change.
func (s *Store) EndLiveCalls(ctx context.Context, reason string, at time.Time) (int, error) {
	at = at.UTC().Truncate(time.Millisecond)
	var ended int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		live, err := sqlrows.QueryAll(ctx, tx, scanCall,
			"SELECT "+callColumns+" FROM calls WHERE status IN "+liveCallStatuses)
		if err != nil {
			return fmt.Errorf("find live calls: %w", err)
		}
		if err := attachTransfers(ctx, tx, live); err != nil {
			return fmt.Errorf("find live calls' transfers: %w", err)
		}
		for _, c := range live {
			for _, t := range c.Transfers {
				if t.Final() {
					continue
				}
				t.CancelStopped(at)
				args, err := transferArgs(t)
				if err != nil {
					return fmt.Errorf("transfer %s: %w", t.ID, err)
				}
				if err := s.saveTransfer(ctx, tx, t, args); err != nil {
					return fmt.Errorf("cancel transfer %s: %w", t.ID, err)
				}
			}
			c.EndStopped(reason, at)
			if err := s.updateCall(ctx, tx, c); err != nil {
				return fmt.Errorf("end call %s: %w", c.ID, err)
			}
		}
		ended = len(live)
		return nil
	})
	if err != nil {
		return 0, wrap(err, "end live calls")
	}
	if ended > 0 {
		s.logger.InfoContext(ctx, "store ended live calls", "calls", ended, "reason", reason)
	}
	return ended, nil
}
