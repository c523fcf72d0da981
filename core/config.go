package core

import (
	"encoding/json"
	"log/slog"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// Configuration is the deployment's configured objects: assistants, SIP
// trunks and phone numbers, and the checks on destinations they imply.
// Every entry point that writes or reads them (MCP tools, resources, a
// future REST API) goes through it, so each rule lives in one place; live
// calls are Calls' business.
type Configuration struct {
	store  Store
	logger *slog.Logger
	now    func() time.Time
	// policy checks configured transfer destinations; see SetPolicy.
	policy *Policy
	// health adds the trunks' last probe results; see SetTrunkHealth.
	health TrunkHealthSource
	// audio resolves local message_audio_url paths; see SetAudioFiles.
	audio AudioFiles
	// webhookGuard refuses webhook URLs at internal addresses; see
	// SetWebhookGuard.
	webhookGuard WebhookGuard
	// transferTimeout is VOICEDOCK_TRANSFER_TIMEOUT, a blind transfer's
	// ring timeout unless its destination has one; see SetTransferTimeout.
	transferTimeout time.Duration
}

// SetTransferTimeout tells check_destination the wait for a blind
// transfer's final NOTIFY (CallsConfig.TransferTimeout); default 30 s.
func (c *Configuration) SetTransferTimeout(d time.Duration) { c.transferTimeout = d }

// NewConfiguration returns the configuration kept in store.
func NewConfiguration(store Store, logger *slog.Logger) *Configuration {
	return &Configuration{store: store, logger: logger, now: time.Now, transferTimeout: 30 * time.Second}
}

func (c *Configuration) timestamp() time.Time {
	return c.now().UTC().Truncate(time.Millisecond)
}

// readOnlyFields may be sent back unchanged by a client that read an object
// and edits it, but never change.
func readOnlyFields() []string {
	return []string{"id", "created_at", "updated_at", "webhook_secret_set", "password_set"}
}

// applyPatch merges patch into cur's JSON form and decodes the result
// strictly into next. Read-only fields in the patch are refused unless they
// repeat the current value.
func applyPatch(cur any, patch json.RawMessage, next any) error {
	var fields map[string]json.RawMessage
	if err := DecodeStrict(patch, &fields); err != nil {
		return err
	}
	doc, err := json.Marshal(cur)
	if err != nil {
		return Internal("encoding the current object", err)
	}
	var curFields map[string]json.RawMessage
	if err := json.Unmarshal(doc, &curFields); err != nil {
		return Internal("decoding the current object", err)
	}
	for _, f := range readOnlyFields() {
		if v, ok := fields[f]; ok {
			if string(v) != string(curFields[f]) {
				return FieldError(CodeInvalidRequest, f, "%s is read-only", f)
			}
		}
	}
	merged, err := jsonpatch.MergePatch(doc, patch)
	if err != nil {
		return Errorf(CodeInvalidRequest, "cannot apply the change: %v", err)
	}
	return DecodeStrict(merged, next)
}
