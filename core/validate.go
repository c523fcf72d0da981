package core

import (
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/voicedock/voicedock/core/numbering"
)

// Size limits on configuration. They keep one bad request from filling the
// store or an LLM's context.
const (
	maxNameLen         = 100
	maxFirstMessageLen = 1000
	maxPromptLen       = 20000
	maxMessages        = 50
	maxTools           = 20
	maxDestinations    = 20
	maxURLLen          = 2048
	maxSecretLen       = 256
)

// WebhookEvents are the event types an assistant may subscribe to.
func WebhookEvents() []string {
	return []string{"assistant-request", "status-update", "transfer-update", "end-of-call-report", "tool-calls", WebhookConversationUpdate, WebhookDTMF}
}

func validateName(param, s string, required bool) error {
	if strings.TrimSpace(s) == "" {
		if required {
			return FieldError(CodeMissingField, param, "%s is required", param)
		}
		return nil
	}
	if err := maxLen(param, s, maxNameLen); err != nil {
		return err
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return FieldError(CodeInvalidRequest, param, "%s must not contain control characters", param)
	}
	return nil
}

func validateWebhookURL(param, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxURLLen {
		return FieldError(CodeInvalidRequest, param, "URL is longer than %d characters", maxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return FieldError(CodeInvalidRequest, param, "%q is not an http(s) URL", clip(s))
	}
	if u.User != nil {
		return FieldError(CodeInvalidRequest, param, "URL must not contain credentials; use webhook_secret")
	}
	return nil
}

// normalizeToolType maps the older camelCase spellings to the documented
// ones, so both editions of a configuration work.
func normalizeToolType(t string) string {
	switch t {
	case "transferCall":
		return ToolTransferCall
	case "endCall":
		return ToolEndCall
	}
	return t
}

// ValidateAssistant checks an assistant and normalises aliases in place.
func ValidateAssistant(a *AssistantConfig) error {
	if err := validateName("name", a.Name, true); err != nil {
		return err
	}
	if err := validateName("business_name", a.BusinessName, false); err != nil {
		return err
	}
	if err := maxLen("first_message", a.FirstMessage, maxFirstMessageLen); err != nil {
		return err
	}
	if a.MaxDurationSeconds < 0 || a.MaxDurationSeconds > 43200 {
		return FieldError(CodeInvalidRequest, "max_duration_seconds", "must be between 0 and 43200")
	}
	if err := validateWebhookURL("webhook_url", a.WebhookURL); err != nil {
		return err
	}
	if err := maxLen("webhook_secret", a.WebhookSecret, maxSecretLen); err != nil {
		return err
	}
	if len(a.WebhookEvents) > len(WebhookEvents()) {
		return FieldError(CodeInvalidRequest, "webhook_events", "at most %d events", len(WebhookEvents()))
	}
	for i, ev := range a.WebhookEvents {
		if !slices.Contains(WebhookEvents(), ev) {
			return FieldError(CodeInvalidRequest, indexed("webhook_events", i), "unknown event %q; known: %s", clip(ev), strings.Join(WebhookEvents(), ", "))
		}
	}
	if a.LLMConfig != nil {
		if err := validateLLMConfig(a.LLMConfig); err != nil {
			return err
		}
	}
	if c := a.RecordingConsent; c != nil {
		if err := maxLen("recording_consent.message", c.Message, maxFirstMessageLen); err != nil {
			return err
		}
	}
	if a.TransferPolicy != nil {
		if err := validateTransferPolicy(a.TransferPolicy); err != nil {
			return err
		}
	}
	return nil
}

func validateLLMConfig(c *LLMConfig) error {
	if err := maxLen("llm_config.provider", c.Provider, 50); err != nil {
		return err
	}
	if err := maxLen("llm_config.model", c.Model, 100); err != nil {
		return err
	}
	if c.Temperature != nil && (*c.Temperature < 0 || *c.Temperature > 2) {
		return FieldError(CodeInvalidRequest, "llm_config.temperature", "temperature must be between 0 and 2")
	}
	if c.MaxCompletionTokens < 0 || c.MaxCompletionTokens > 32768 {
		return FieldError(CodeInvalidRequest, "llm_config.max_completion_tokens", "must be between 1 and 32768")
	}
	if len(c.Messages) > maxMessages {
		return FieldError(CodeInvalidRequest, "llm_config.messages", "at most %d messages", maxMessages)
	}
	for i, m := range c.Messages {
		p := indexed("llm_config.messages", i)
		switch m.Role {
		case "system", "user", "assistant":
		case "":
			return FieldError(CodeMissingField, p+".role", "role is required")
		default:
			return FieldError(CodeInvalidRequest, p+".role", "role %q is not system, user or assistant", clip(m.Role))
		}
		if err := maxLen(p+".content", m.Content, maxPromptLen); err != nil {
			return err
		}
	}
	if len(c.Tools) > maxTools {
		return FieldError(CodeInvalidRequest, "llm_config.tools", "at most %d tools", maxTools)
	}
	names := map[string]bool{}
	for i := range c.Tools {
		t := &c.Tools[i]
		p := indexed("llm_config.tools", i)
		t.Type = normalizeToolType(t.Type)
		switch t.Type {
		case ToolTransferCall:
			if err := validateTransferTool(p, t); err != nil {
				return err
			}
		case ToolEndCall:
			if len(t.Destinations) > 0 || t.Name != "" || t.URL != "" || len(t.Parameters) > 0 {
				return FieldError(CodeInvalidRequest, p, "an end_call tool takes no other fields")
			}
		case ToolFunction:
			if err := validateFunctionTool(p, t); err != nil {
				return err
			}
			if names[t.Name] {
				return FieldError(CodeInvalidRequest, p+".name", "tool name %q is used twice", t.Name)
			}
			names[t.Name] = true
		case "":
			return FieldError(CodeMissingField, p+".type", "tool type is required")
		default:
			return FieldError(CodeInvalidRequest, p+".type", "tool type %q is not transfer_call, end_call or function", clip(t.Type))
		}
	}
	return nil
}

func validateTransferTool(p string, t *Tool) error {
	if t.Name != "" || t.URL != "" || len(t.Parameters) > 0 || t.Async {
		return FieldError(CodeInvalidRequest, p, "a transfer_call tool takes only destinations")
	}
	if len(t.Destinations) == 0 {
		return FieldError(CodeMissingField, p+".destinations", "a transfer_call tool needs at least one destination")
	}
	if len(t.Destinations) > maxDestinations {
		return FieldError(CodeInvalidRequest, p+".destinations", "at most %d destinations", maxDestinations)
	}
	seen := map[string]bool{}
	for j, d := range t.Destinations {
		dp := indexed(p+".destinations", j)
		nd, err := ValidateDestination(dp, d)
		if err != nil {
			return err
		}
		if seen[nd.Target()] {
			return FieldError(CodeInvalidRequest, dp, "destination %s is listed twice", nd.Target())
		}
		seen[nd.Target()] = true
		t.Destinations[j] = nd
	}
	return nil
}

func validateFunctionTool(p string, t *Tool) error {
	if len(t.Destinations) > 0 {
		return FieldError(CodeInvalidRequest, p+".destinations", "only a transfer_call tool has destinations")
	}
	if t.Name == "" {
		return FieldError(CodeMissingField, p+".name", "a function tool needs a name")
	}
	if len(t.Name) > 64 || !isFunctionName(t.Name) {
		return FieldError(CodeInvalidRequest, p+".name", "name must be letters, digits, _ or -, start with a letter or _, at most 64 characters")
	}
	if strings.TrimSpace(t.Description) == "" {
		return FieldError(CodeMissingField, p+".description", "a function tool needs a description")
	}
	if err := maxLen(p+".description", t.Description, 2000); err != nil {
		return err
	}
	if len(t.Parameters) > 16384 {
		return FieldError(CodeInvalidRequest, p+".parameters", "parameters schema is larger than 16 KiB")
	}
	return validateWebhookURL(p+".url", t.URL)
}

func isFunctionName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && (r == '-' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return s != ""
}

// ValidateTrunk checks a trunk and fills in its defaults.
func ValidateTrunk(t *TrunkConfig) error {
	if err := validateName("name", t.Name, true); err != nil {
		return err
	}
	if t.Host == "" {
		return FieldError(CodeMissingField, "host", "host is required")
	}
	if !numbering.IsHost(t.Host) {
		return FieldError(CodeInvalidRequest, "host", "host %q is not a hostname or IP address (no scheme, port or path)", clip(t.Host))
	}
	t.Transport = strings.ToLower(t.Transport)
	switch t.Transport {
	case "":
		t.Transport = TransportUDP
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		return FieldError(CodeInvalidRequest, "transport", "transport %q is not udp, tcp or tls", clip(t.Transport))
	}
	if t.Port == 0 {
		t.Port = 5060
		if t.Transport == TransportTLS {
			t.Port = 5061
		}
	}
	if t.Port < 1 || t.Port > 65535 {
		return FieldError(CodeInvalidRequest, "port", "port must be between 1 and 65535")
	}
	if err := maxLen("username", t.Username, 128); err != nil {
		return err
	}
	if strings.ContainsAny(t.Username, "\r\n\"\\") {
		return FieldError(CodeInvalidRequest, "username", "username must not contain quotes, backslashes or line breaks")
	}
	if err := maxLen("password", t.Password, maxSecretLen); err != nil {
		return err
	}
	if t.Password != "" && t.Username == "" {
		return FieldError(CodeMissingField, "username", "a password needs a username")
	}
	t.InboundAuth = strings.ToLower(t.InboundAuth)
	switch t.InboundAuth {
	case "":
		t.InboundAuth = InboundAuthIP
	case InboundAuthIP:
	case InboundAuthDigest:
		if t.Username == "" {
			return FieldError(CodeMissingField, "username", "inbound_auth digest needs a username")
		}
		if t.Password == "" {
			return FieldError(CodeMissingField, "password", "inbound_auth digest needs a password")
		}
	default:
		return FieldError(CodeInvalidRequest, "inbound_auth", "inbound_auth %q is not ip or digest", clip(t.InboundAuth))
	}
	return nil
}

// ValidatePhoneNumber checks a phone number's own fields (references are
// checked by the store, in the same transaction as the write).
func ValidatePhoneNumber(n *PhoneNumberConfig) error {
	if _, err := ParseE164("phone_number", n.PhoneNumber); err != nil {
		return err
	}
	if err := validateName("name", n.Name, false); err != nil {
		return err
	}
	for param, ref := range map[string]*string{"assistant_id": n.AssistantID, "transfer_trunk_id": n.TransferTrunkID} {
		if ref != nil && *ref == "" {
			return FieldError(CodeInvalidRequest, param, "%s must be an id or null", param)
		}
	}
	return nil
}
