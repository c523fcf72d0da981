package sipptest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A scenario that retransmits a request over UDP can get a second final
// answer to it: the peer answers each copy that reaches it, and when sipp is
// starved of CPU its timer fires before it has read the first answer. Unless
// the request names its transaction (start_txn) and the answer's recv names
// it too (response_txn), sipp takes the repeated answer for an unexpected
// message and aborts the call. That failed an end-to-end test on a loaded
// machine (a NOTIFY's second 200 arriving while sipp waited for a BYE).

// TestSippAbsorbsARepeatedFinalAnswer shows the mechanism on the sipp the
// tests use: the same caller aborts without the transaction attributes and
// succeeds with them.
func TestSippAbsorbsARepeatedFinalAnswer(t *testing.T) {
	withTxn := "uac_final_twice.xml"
	data, err := os.ReadFile(filepath.Join(ScenarioDir(), withTxn))
	if err != nil {
		t.Fatal(err)
	}
	without := regexp.MustCompile(` (start|response)_txn="[^"]*"`).ReplaceAll(data, nil)
	if string(without) == string(data) {
		t.Fatalf("%s names no transaction", withTxn)
	}
	tmp := filepath.Join(t.TempDir(), "uac_final_twice_plain.xml")
	if err := os.WriteFile(tmp, without, 0o644); err != nil {
		t.Fatal(err)
	}
	plain, err := filepath.Rel(ScenarioDir(), tmp)
	if err != nil {
		t.Fatal(err)
	}

	run := func(caller string) (callerErr, answererErr error) {
		uas := Start(t, "uas_final_twice.xml", "", Options{Timeout: 10 * time.Second})
		uac := Start(t, caller, uas.Addr(), Options{Timeout: 10 * time.Second})
		return uac.Exit(t), uas.Exit(t)
	}
	if err, _ := run(plain); err == nil {
		t.Fatal("without start_txn/response_txn the caller succeeded: the repeated answer did not reach it, and this test shows nothing")
	}
	if callerErr, answererErr := run(withTxn); callerErr != nil || answererErr != nil {
		t.Fatalf("with start_txn/response_txn: caller %v, answerer %v", callerErr, answererErr)
	}
}

// TestRetransmittedRequestsNameTheirTransaction checks every scenario of the
// tests: a non-INVITE request sent with retrans names its transaction, and
// the recvs of its answers name the same one. The bench runs its scenarios
// without them (bench/sipp.go says why).
func TestRetransmittedRequestsNameTheirTransaction(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(ScenarioDir(), "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d scenarios; the directories moved?", len(files))
	}
	for _, f := range files {
		if err := checkTransactions(f); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

// step is one child of <scenario> as far as the check needs it.
type step struct {
	kind  string // send, recv, or another element
	attrs map[string]string
	body  string
}

func checkTransactions(path string) error {
	steps, err := readSteps(path)
	if err != nil {
		return err
	}
	method := regexp.MustCompile(`^\s*([A-Z]+) `)
	for i, s := range steps {
		if s.kind != "send" || s.attrs["retrans"] == "" {
			continue
		}
		m := method.FindStringSubmatch(s.body)
		if m == nil || m[1] == "INVITE" || m[1] == "ACK" {
			continue // a response, or an INVITE (whose 200 sipp ACKs again)
		}
		txn := s.attrs["start_txn"]
		if txn == "" {
			return fmt.Errorf("step %d: %s sent with retrans has no start_txn", i, m[1])
		}
		if !answeredIn(steps[i+1:], txn) {
			return fmt.Errorf("step %d: the recvs of %s's answers up to the first mandatory final one do not all name response_txn=%q", i, m[1], txn)
		}
	}
	return nil
}

// answeredIn reports whether the recvs of responses that follow, up to and
// including the first mandatory final one (which must come before the next
// send), all name txn. sipp matches a response recv without response_txn
// only against methods sent without a transaction, so an optional recv of
// the request's answer must name it too; a later recv is another request's.
func answeredIn(steps []step, txn string) bool {
	for _, s := range steps {
		if s.kind == "send" {
			return false
		}
		code := s.attrs["response"]
		if s.kind != "recv" || code == "" {
			continue
		}
		if s.attrs["response_txn"] != txn {
			return false
		}
		if code >= "200" && s.attrs["optional"] == "" {
			return true
		}
	}
	return false
}

func readSteps(path string) ([]step, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil } // ISO-8859-1 headers; the files are ASCII
	var steps []step
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return steps, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				s := step{kind: tok.Name.Local, attrs: map[string]string{}}
				for _, a := range tok.Attr {
					s.attrs[a.Name.Local] = a.Value
				}
				steps = append(steps, s)
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 2 && len(steps) > 0 {
				steps[len(steps)-1].body += strings.TrimLeft(string(tok), "\r\n")
			}
		}
	}
}
