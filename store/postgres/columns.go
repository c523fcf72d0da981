package postgres

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// How Go values map to columns: times are timestamptz, written UTC and
// truncated to milliseconds as the SQLite store keeps them, and an unset
// optional field is NULL.

func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// timestamp is a NOT NULL time column: timestamp(t) is the value written,
// (*timestamp)(&field) the scan destination (read back in UTC).
type timestamp time.Time

func (t timestamp) Value() (driver.Value, error) { return dbTime(time.Time(t)), nil }

func (t *timestamp) Scan(src any) error {
	v, ok := src.(time.Time)
	if !ok {
		return fmt.Errorf("bad timestamp: %T %v", src, src)
	}
	*t = timestamp(v.UTC())
	return nil
}

// nullTimestamp is an optional time column, NULL for a nil time: the
// scan destination of a *time.Time field, and the value written for one.
type nullTimestamp struct{ t **time.Time }

// nullTime is the value written for an optional time.
func nullTime(t *time.Time) nullTimestamp { return nullTimestamp{&t} }

func (n nullTimestamp) Value() (driver.Value, error) {
	if *n.t == nil {
		return nil, nil
	}
	return dbTime(**n.t), nil
}

func (n nullTimestamp) Scan(src any) error {
	if src == nil {
		*n.t = nil
		return nil
	}
	var t timestamp
	if err := t.Scan(src); err != nil {
		return err
	}
	v := time.Time(t)
	*n.t = &v
	return nil
}
