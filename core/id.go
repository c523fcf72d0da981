package core

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// NewID returns a new opaque, time-ordered id (UUIDv7), so that lists
// sorted by id are sorted by creation and indexes stay compact.
func NewID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return id.String(), nil
}

// timestampNow is the current time as stored: UTC, to the millisecond.
func timestampNow() time.Time {
	return time.Now().UTC().Truncate(time.Millisecond)
}
