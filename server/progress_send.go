package server

import (
	"context"
	"errors"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// progressRoomWait bounds how long a progress notification waits for room
// in a session's full notification queue.
const progressRoomWait = 10 * time.Second

// sendProgress hands a progress notification to the request's session.
// mcp-go does not wait when the session's queue is full (the stdio
// session's, and an HTTP session's outside a POST stream, hold 100): it
// drops the notification with ErrNotificationChannelBlocked. Under load
// other notifications (resource updates of many calls, log messages) fill
// that queue, and a transfer step was lost that way. mcp-go offers no
// blocking send, so a blocked one is tried again, with a short back-off,
// until it is queued, ctx ends or progressRoomWait passes.
func sendProgress(ctx context.Context, srv *mcpserver.MCPServer, params map[string]any) error {
	deadline := time.Now().Add(progressRoomWait)
	backoff := time.Millisecond
	for {
		err := srv.SendNotificationToClient(ctx, "notifications/progress", params)
		if !errors.Is(err, mcpserver.ErrNotificationChannelBlocked) || !time.Now().Before(deadline) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}
