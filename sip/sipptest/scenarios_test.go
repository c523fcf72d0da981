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
	plain := scenarioVariant(t, withTxn, regexp.MustCompile(` (start|response)_txn="[^"]*"`), "")

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

// The same starvation on our side makes the UA send a request again (its
// Timer E) before it has read sipp's answer. sipp takes a copy for one, and
// answers it again, only while it has sent at most one message since the
// original: a transferee answers a REFER with a 202 and a NOTIFY at once,
// so a copy of the REFER arriving after both was an unexpected message,
// and sipp aborted the call (a CI run, on the test command's load). The
// scenarios absorb such copies with a global optional recv that does not
// advance the scenario, and fail a request that is not a copy.

// TestSippAbsorbsACopiedRequest shows it on the sipp the tests use: the
// answerer succeeds with the absorber, aborts without it, and fails when
// the second request is another transaction (another branch).
func TestSippAbsorbsACopiedRequest(t *testing.T) {
	const answerer, caller = "uas_request_copy.xml", "uac_request_copy.xml"
	// Without the absorber, the Via it compares with goes too: sipp
	// refuses a variable that is set and never read.
	absorber := regexp.MustCompile(`(?s)\s*<recv request="REFER" optional="global" advance_state="false">.*?</recv>|\s*<ereg [^>]*assign_to="refer_via"/>`)
	// An answerer that aborts leaves the caller's BYE unanswered: the
	// caller's own limit then ends the run, short where only the
	// answerer's outcome counts.
	run := func(uasName, uacName string, callerLimit time.Duration) (answerer *Process, answererErr, callerErr error) {
		uas := Start(t, uasName, "", Options{Timeout: 10 * time.Second})
		uac := Start(t, uacName, uas.Addr(), Options{Timeout: callerLimit})
		return uas, uas.Exit(t), uac.Exit(t)
	}

	if _, answererErr, callerErr := run(answerer, caller, 10*time.Second); answererErr != nil || callerErr != nil {
		t.Fatalf("with the absorber: answerer %v, caller %v", answererErr, callerErr)
	}
	// Each failure must be the one the case is about, not another.
	uas, err, _ := run(scenarioVariant(t, answerer, absorber, ""), caller, 2*time.Second)
	if err == nil {
		t.Error("without the absorber the answerer succeeded: the copy was not unexpected, and this test shows nothing")
	} else if traces := uas.Traces(); !strings.Contains(traces, "unexpected message for Call-Id") || !strings.Contains(traces, "received 'REFER ") {
		t.Errorf("without the absorber the answerer failed, but not on the copy:\n%s", traces)
	}
	other := scenarioVariant(t, caller, regexp.MustCompile(`assign_to="copy" value="\[\$branch1\]"`), `assign_to="copy" value="z9hG4bK-another"`)
	uas, err, _ = run(answerer, other, 2*time.Second)
	if err == nil {
		t.Error("the absorber took a REFER of another transaction as a copy")
	} else if traces := uas.Traces(); !strings.Contains(traces, "strcmp refer_copy_via") {
		t.Errorf("a REFER of another transaction failed the answerer, but not on the absorber's comparison:\n%s", traces)
	}
}

// scenarioVariant writes scenario name with what from matches replaced by
// to into the test's temporary directory, and returns its name relative to
// ScenarioDir, as Start takes it. It fails the test when from matches
// nothing: a variant that changed nothing would show nothing.
func scenarioVariant(t *testing.T, name string, from *regexp.Regexp, to string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ScenarioDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	if !from.Match(data) {
		t.Fatalf("%s: %s matches nothing", name, from)
	}
	tmp := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(tmp, from.ReplaceAll(data, []byte(to)), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(ScenarioDir(), tmp)
	if err != nil {
		t.Fatal(err)
	}
	return rel
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

// TestReceivedRequestsAbsorbTheirCopies checks every scenario of the tests:
// where a REFER or a BYE from the UA is followed by two sends or more
// before the next recv, a global absorber of its copies (a recv of that
// method, optional="global", advance_state="false") stands before that
// next recv (optional recvs of the same method aside), and every mandatory
// recv of that method keeps its Via for the absorber to compare. The answering scenarios' INVITEs are left out: they
// wait in a pause (their ring time) after the provisional answers, and sipp
// refuses an optional recv before a pause or a send, so no absorber can
// stand behind that wait.
func TestReceivedRequestsAbsorbTheirCopies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(ScenarioDir(), "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		n, err := checkAbsorbers(f)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		checked += n
	}
	if checked < 10 {
		t.Fatalf("only %d requests needed an absorber; the scenarios changed?", checked)
	}
}

// checkAbsorbers checks one scenario and returns how many of its recvs
// needed an absorber.
func checkAbsorbers(path string) (int, error) {
	steps, err := readSteps(path)
	if err != nil {
		return 0, err
	}
	isAbsorber := func(s step, method string) bool {
		return s.kind == "recv" && s.attrs["request"] == method && s.attrs["optional"] == "global" && s.attrs["advance_state"] == "false"
	}
	needed := 0
	for i, s := range steps {
		method := s.attrs["request"]
		if s.kind != "recv" || (method != "REFER" && method != "BYE") || s.attrs["optional"] != "" {
			continue
		}
		via := strings.ToLower(method) + "_via"
		if !s.assigns(via) && absorbed(steps, method, len(steps), isAbsorber) {
			return needed, fmt.Errorf("step %d: the recv of a %s does not keep its Via (%s) for the absorber", i, method, via)
		}
		sends, next := 0, -1
		for j := i + 1; j < len(steps); j++ {
			// The optional recvs of the same method before the next
			// recv (uac_transfer_ok.xml answers a copy with 202 again
			// where it waits for a NOTIFY's answer) do not end the stretch.
			if steps[j].kind == "recv" && !(steps[j].attrs["request"] == method && steps[j].attrs["optional"] != "") {
				next = j
				break
			}
			if steps[j].kind == "send" {
				sends++
			}
		}
		if sends < 2 || next < 0 {
			continue
		}
		needed++
		if !absorbed(steps, method, next, isAbsorber) {
			return needed, fmt.Errorf("step %d: a %s followed by %d sends has no absorber of its copies before step %d", i, method, sends, next)
		}
	}
	return needed, nil
}

// absorbed reports whether an absorber of method stands before step end.
func absorbed(steps []step, method string, end int, isAbsorber func(step, string) bool) bool {
	for _, s := range steps[:end] {
		if isAbsorber(s, method) {
			return true
		}
	}
	return false
}

// step is one child of <scenario> as far as the checks need it.
type step struct {
	kind  string // send, recv, or another element
	attrs map[string]string
	body  string
	inner []map[string]string // the attributes of the elements within (actions)
}

// assigns reports whether an element within s assigns to variable v.
func (s step) assigns(v string) bool {
	for _, attrs := range s.inner {
		if attrs["assign_to"] == v {
			return true
		}
	}
	return false
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
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Name.Local] = a.Value
			}
			switch {
			case depth == 2:
				steps = append(steps, step{kind: tok.Name.Local, attrs: attrs})
			case depth > 2 && len(steps) > 0:
				last := &steps[len(steps)-1]
				last.inner = append(last.inner, attrs)
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
