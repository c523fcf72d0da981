package sqlite

import (
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/voicedock/voicedock/store/sqlrows"
)

// How Go values map to columns: times are text in sqlrows.TimeLayout
// (text in one layout sorts as the times do, so ranges and ORDER BY on
// these columns need no conversion), and an unset optional field is NULL.

// timestamp is a NOT NULL time column: timestamp(t) is the value written,
// (*timestamp)(&field) the scan destination.
type timestamp time.Time

func (t timestamp) Value() (driver.Value, error) { return sqlrows.FormatTime(time.Time(t)), nil }

func (t *timestamp) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case time.Time: // a driver that parses the text itself
		*t = timestamp(v.UTC())
		return nil
	default:
		return fmt.Errorf("bad timestamp: %T %v", src, src)
	}
	parsed, err := sqlrows.ParseTime(s)
	if err != nil {
		return err
	}
	*t = timestamp(parsed)
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
	return sqlrows.FormatTime(**n.t), nil
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

// sqlStrings is a parenthesised list of SQL string literals, for an IN
// over a fixed set of constants.
func sqlStrings(values ...string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}
