package core

import (
	"context"
	"encoding/json"
	"time"
)

// TaskRecord is what is kept of a tool call an MCP client ran as a task,
// so that the task can be read after the request that started it, from
// another session, and after a restart.
type TaskRecord struct {
	// ID is the task id the client holds.
	ID string
	// Owner is who started it (the API key's name, or the local user's
	// transport name): only the owner may read it.
	Owner string
	// Tool is the tool the task runs.
	Tool string
	// CallID and TransferID name the transfer the task works on, once
	// there is one (transfer_call); empty otherwise.
	CallID     string
	TransferID string
	// CreatedAt and TTL are the task's creation time and how long it is
	// kept (zero: no limit given).
	CreatedAt time.Time
	TTL       time.Duration
	// Status is the task's last stored status (working, completed,
	// failed, cancelled), and Result the tool's result once it ended.
	Status    string
	Result    json.RawMessage
	UpdatedAt time.Time
}

// Expired reports whether the task's time to live has passed at now.
func (r TaskRecord) Expired(now time.Time) bool {
	return r.TTL > 0 && now.After(r.CreatedAt.Add(r.TTL))
}

// TaskRecords keeps TaskRecords. SaveTaskRecord inserts or replaces the
// record of its ID; TaskRecord returns it or CodeNotFound.
type TaskRecords interface {
	SaveTaskRecord(ctx context.Context, r TaskRecord) error
	TaskRecord(ctx context.Context, id string) (TaskRecord, error)
}
