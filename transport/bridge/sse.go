package bridge

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// maxSSELine bounds one line of an event stream (a JSON-RPC message).
const maxSSELine = 16 << 20

// readSSE reads a text/event-stream and calls handle with each event's type
// and data, until the stream ends (nil) or breaks (the error). It returns
// the id of the last event that had one, for Last-Event-ID. It is written
// here because mcp-go's reader is unexported and the format is small
// (https://html.spec.whatwg.org/multipage/server-sent-events.html).
func readSSE(r io.Reader, handle func(event, data string)) (lastID string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSSELine)
	var event string
	var data []string
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if len(data) > 0 {
				handle(event, strings.Join(data, "\n"))
			}
			event, data = "", data[:0]
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			event = value
		case "data":
			data = append(data, value)
		case "id":
			if !strings.Contains(value, "\x00") {
				lastID = value
			}
		}
	}
	if err := sc.Err(); err != nil {
		return lastID, err
	}
	if len(data) > 0 {
		// The stream ended in the middle of an event: it was cut.
		return lastID, errors.New("event stream cut mid-event")
	}
	return lastID, nil
}
