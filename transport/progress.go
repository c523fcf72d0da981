package transport

import (
	"bytes"
	"encoding/json"

	"github.com/voicedock/voicedock/server"
)

// noteProgressWritten tells the tracker about every progress notification
// in b, which is one JSON-RPC message (stdio) or SSE frames whose data
// lines are messages (HTTP).
func noteProgressWritten(tracker *server.DeliveryTracker, b []byte) {
	if tracker == nil || !bytes.Contains(b, []byte(`"notifications/progress"`)) {
		return
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimPrefix(bytes.TrimSpace(line), []byte("data:"))
		line = bytes.TrimSpace(line)
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var msg struct {
			Method string `json:"method"`
			Params struct {
				ProgressToken json.RawMessage `json:"progressToken"`
			} `json:"params"`
		}
		if json.Unmarshal(line, &msg) != nil || msg.Method != "notifications/progress" {
			continue
		}
		var token any
		if json.Unmarshal(msg.Params.ProgressToken, &token) == nil {
			tracker.Written(server.TokenKey(token))
		}
	}
}
