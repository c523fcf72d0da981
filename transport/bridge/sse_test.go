package bridge

import (
	"strings"
	"testing"
)

func TestReadSSE(t *testing.T) {
	stream := "event: message\nid: 7\ndata: {\"a\":1}\n\n: a comment\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\nid: 8\n\n"
	var got []string
	last, err := readSSE(strings.NewReader(stream), func(event, data string) { got = append(got, event+"|"+data) })
	if err != nil || last != "8" {
		t.Fatalf("readSSE: last %q, %v", last, err)
	}
	if want := []string{`message|{"a":1}`, "|{\"b\":\n2}"}; strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("events %q, want %q", got, want)
	}
	if _, err := readSSE(strings.NewReader("data: {\"cut\""), func(string, string) {}); err == nil {
		t.Error("a stream cut mid-event read as complete")
	}
}

// FuzzReadSSE: the bridge reads event streams from a remote server
// (VOICEDOCK_CONNECT); no input makes it panic, and every event it hands on
// is one the stream's data lines spelled.
func FuzzReadSSE(f *testing.F) {
	f.Add("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
	f.Add("id: 1\ndata: a\ndata: b\n\n\n:x\nretry: 10\n")
	f.Add("data\n\ndata:\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		_, _ = readSSE(strings.NewReader(stream), func(event, data string) {
			if !strings.Contains(stream, "data") {
				t.Fatalf("event %q from a stream without data lines", data)
			}
			for _, line := range strings.Split(data, "\n") {
				if !strings.Contains(stream, line) {
					t.Fatalf("data line %q is not in the stream", line)
				}
			}
		})
	})
}
