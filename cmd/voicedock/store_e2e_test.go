package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	trunkPassword = "pw-Zq8sJ3nLkT0aVx"
	webhookSecret = "whsec-Mm4cR9uPq2YdEo"
)

// TestConfigurationSurvivesRestart creates one of everything, restarts the
// server on the same data dir, and finds it all again, with the secrets
// kept but never shown: not in a result, not in a log line, not in the
// database file in the clear.
func TestConfigurationSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, stderr1 := stdioServer(t, dir)
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","first_message":"Hello","webhook_url":"https://hooks.example.com/vd","webhook_secret":"`+webhookSecret+`","webhook_events":["status-update"]}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"pbx.example.com","transport":"tcp","username":"acme","password":"`+trunkPassword+`"}`)
	aID, trID := field(a, "assistant", "id"), field(tr, "trunk", "id")
	n := mustCall(t, c, "create_phone_number", `{"phone_number":"+31850835037","name":"Main line","assistant_id":"`+aID+`","transfer_trunk_id":"`+trID+`"}`)
	nID := field(n, "number", "id")
	results := []toolResult{a, tr, n}
	c.Close()

	c2, stderr2 := stdioServer(t, dir)
	ga := mustCall(t, c2, "get_assistant", `{"id":"`+aID+`"}`)
	gt := mustCall(t, c2, "get_trunk", `{"id":"`+trID+`"}`)
	gn := mustCall(t, c2, "get_phone_number", `{"id":"`+nID+`"}`)
	lt := mustCall(t, c2, "list_trunks", `{}`)
	results = append(results, ga, gt, gn, lt)

	if field(ga, "assistant", "webhook_url") != "https://hooks.example.com/vd" || ga.structured["assistant"].(map[string]any)["webhook_secret_set"] != true {
		t.Errorf("assistant after restart: %s", ga.json)
	}
	if field(gt, "trunk", "username") != "acme" || gt.structured["trunk"].(map[string]any)["password_set"] != true || field(gt, "trunk", "transport") != "tcp" {
		t.Errorf("trunk after restart: %s", gt.json)
	}
	if field(gn, "number", "assistant_id") != aID || field(gn, "number", "transfer_trunk_id") != trID {
		t.Errorf("number after restart: %s", gn.json)
	}

	// Updating the trunk without a password keeps the stored one.
	up := mustCall(t, c2, "configure_trunk", `{"id":"`+trID+`","name":"PBX 2","host":"pbx.example.com","username":"acme"}`)
	if up.structured["trunk"].(map[string]any)["password_set"] != true {
		t.Errorf("update dropped the password: %s", up.json)
	}
	results = append(results, up)
	c2.Close()

	for _, r := range results {
		for _, secret := range []string{trunkPassword, webhookSecret} {
			if strings.Contains(r.text, secret) || strings.Contains(string(r.json), secret) {
				t.Errorf("a tool result shows a secret: %s", r.json)
			}
		}
	}
	logs := stderr1.String() + stderr2.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Errorf("debug logging did not run, so the log check proves nothing:\n%s", logs)
	}
	for _, secret := range []string{trunkPassword, webhookSecret} {
		if strings.Contains(logs, secret) {
			t.Errorf("a log line shows a secret")
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "voicedock.db*"))
	if len(files) == 0 {
		t.Fatal("no database file in the data dir")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{trunkPassword, webhookSecret} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds a secret in the clear", filepath.Base(f))
			}
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret.key: %v, mode %v", err, st.Mode())
	}
}

// TestSecretKeyFromEnvironment: with VOICEDOCK_SECRET_KEY set no key file
// is written, and another key cannot read the secrets.
func TestSecretKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := "VOICEDOCK_SECRET_KEY=" + strings.Repeat("ab", 32)
	c, _ := stdioServer(t, dir, key)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"10.1.2.3","username":"u","password":"`+trunkPassword+`"}`)
	c.Close()
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !os.IsNotExist(err) {
		t.Errorf("a key file was written although the key came from the environment: %v", err)
	}
	c2, _ := stdioServer(t, dir, "VOICEDOCK_SECRET_KEY="+strings.Repeat("cd", 32))
	r := call(t, c2, "get_trunk", `{"id":"`+field(tr, "trunk", "id")+`"}`)
	if !r.isError || r.errorCode() != "internal" {
		t.Errorf("reading with the wrong key: %s", r.text)
	}
}
