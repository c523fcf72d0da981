package sip

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxReasonLen bounds the reason phrase kept from a sipfrag.
const maxReasonLen = 256

// ParseSipfrag parses the status line of a NOTIFY's message/sipfrag body
// (RFC 3420, RFC 3515): "SIP/2.0 200 OK", the line ending in CRLF or a bare
// LF and possibly followed by headers, which are ignored. contentType is the
// NOTIFY's Content-Type; parameters (";version=2.0") are allowed and an
// empty one is tolerated, but any other media type is an error. The reason
// phrase is returned as sent ("Ok", "Trying") and may be empty.
func ParseSipfrag(contentType string, body []byte) (status int, reason string, err error) {
	if ct := strings.TrimSpace(contentType); ct != "" {
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "message/sipfrag") {
			return 0, "", fmt.Errorf("sipfrag: content type %q is not message/sipfrag", clip(ct, 64))
		}
	}
	body = bytes.TrimLeft(body, " \t\r\n")
	if len(body) == 0 {
		return 0, "", fmt.Errorf("sipfrag: empty body")
	}
	line := body
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t\r")
	version, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || !strings.EqualFold(string(version), "SIP/2.0") {
		return 0, "", fmt.Errorf("sipfrag: status line %q does not start with SIP/2.0", clip(string(line), 64))
	}
	rest = bytes.TrimLeft(rest, " \t")
	code, phrase, _ := bytes.Cut(rest, []byte(" "))
	if len(code) != 3 {
		return 0, "", fmt.Errorf("sipfrag: status code %q is not three digits", clip(string(code), 16))
	}
	status, err = strconv.Atoi(string(code))
	if err != nil || status < 100 || status > 699 {
		return 0, "", fmt.Errorf("sipfrag: status code %q is out of range", clip(string(code), 16))
	}
	reason, err = reasonPhrase(phrase)
	if err != nil {
		return 0, "", err
	}
	return status, reason, nil
}

// reasonPhrase validates a status line's reason phrase: UTF-8 text with no
// control characters other than tab.
func reasonPhrase(b []byte) (string, error) {
	s := strings.TrimSpace(string(b))
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("sipfrag: reason phrase is not UTF-8")
	}
	for _, r := range s {
		if r != '\t' && unicode.IsControl(r) {
			return "", fmt.Errorf("sipfrag: reason phrase has control character %U", r)
		}
	}
	if len(s) > maxReasonLen {
		s = strings.ToValidUTF8(s[:maxReasonLen], "")
	}
	return s, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
