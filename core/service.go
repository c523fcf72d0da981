package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// Service holds the domain rules. Every entry point (MCP tools, call
// control, SIP) goes through it, so a rule lives in one place.
type Service struct {
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
}

// SetTrunkHealth makes GetTrunk and ListTrunks show each trunk's last
// probe result.
func (s *Service) SetTrunkHealth(h TrunkHealthSource) { s.health = h }

func (s *Service) withHealth(t Trunk) Trunk {
	if s.health != nil {
		if h, ok := s.health.Health(t.ID); ok && h.TrunkUpdatedAt.Equal(t.UpdatedAt) {
			t.Health = &h
		}
	}
	return t
}

// NewService returns a service on the given store.
func NewService(store Store, logger *slog.Logger) *Service {
	return &Service{store: store, logger: logger, now: time.Now}
}

func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Millisecond)
}

// readOnlyFields may be sent back unchanged by a client that read an object
// and edits it, but never change.
func readOnlyFields() []string {
	return []string{"id", "created_at", "updated_at", "webhook_secret_set", "password_set"}
}

// CreateAssistant validates and stores a new assistant.
func (s *Service) CreateAssistant(ctx context.Context, cfg AssistantConfig) (Assistant, error) {
	if err := ValidateAssistant(&cfg); err != nil {
		return Assistant{}, err
	}
	if err := s.checkDestinations(ctx, &cfg); err != nil {
		return Assistant{}, err
	}
	if err := s.checkReferences(ctx, &cfg); err != nil {
		return Assistant{}, err
	}
	id, err := NewID()
	if err != nil {
		return Assistant{}, Internal("creating an assistant", err)
	}
	a := Assistant{ID: id, AssistantConfig: cfg, CreatedAt: s.timestamp()}
	a.UpdatedAt = a.CreatedAt
	if err := s.store.CreateAssistant(ctx, a); err != nil {
		return Assistant{}, err
	}
	return a.Redacted(), nil
}

// GetAssistant returns an assistant without its secret.
func (s *Service) GetAssistant(ctx context.Context, id string) (Assistant, error) {
	a, err := s.store.GetAssistant(ctx, id)
	if err != nil {
		return Assistant{}, err
	}
	return a.Redacted(), nil
}

// ListAssistants returns a page of assistants and the total count.
func (s *Service) ListAssistants(ctx context.Context, p Page) ([]Assistant, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	list, total, err := s.store.ListAssistants(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	for i := range list {
		list[i] = list[i].Redacted()
	}
	return list, total, nil
}

// UpdateAssistant applies a JSON merge patch (RFC 7396) to the assistant:
// fields sent change, fields absent stay, null removes an optional field,
// and nested objects (llm_config) merge. Arrays are replaced whole.
func (s *Service) UpdateAssistant(ctx context.Context, id string, patch json.RawMessage) (Assistant, error) {
	cur, err := s.store.GetAssistant(ctx, id)
	if err != nil {
		return Assistant{}, err
	}
	var next Assistant
	if err := applyPatch(cur, patch, &next); err != nil {
		return Assistant{}, err
	}
	if err := ValidateAssistant(&next.AssistantConfig); err != nil {
		return Assistant{}, err
	}
	if err := s.checkDestinations(ctx, &next.AssistantConfig); err != nil {
		return Assistant{}, err
	}
	if err := s.checkReferences(ctx, &next.AssistantConfig); err != nil {
		return Assistant{}, err
	}
	next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, s.timestamp()
	next.WebhookSecretSet = false
	if err := s.store.UpdateAssistant(ctx, next); err != nil {
		return Assistant{}, err
	}
	return next.Redacted(), nil
}

// DeleteAssistant removes an assistant; see Store.DeleteAssistant for force.
func (s *Service) DeleteAssistant(ctx context.Context, id string, force bool) error {
	return s.store.DeleteAssistant(ctx, id, force)
}

// ConfigureTrunk creates a trunk, or, when id is set, replaces the
// configuration of that trunk. On an update an empty password keeps the
// stored one, so that a client that read the trunk (which never shows the
// password) can send it back edited; clearPassword removes it. It reports
// whether the trunk was created.
func (s *Service) ConfigureTrunk(ctx context.Context, id string, cfg TrunkConfig, clearPassword bool) (Trunk, bool, error) {
	t := Trunk{ID: id, TrunkConfig: cfg}
	created := t.ID == ""
	if !created {
		cur, err := s.store.GetTrunk(ctx, t.ID)
		if err != nil {
			return Trunk{}, false, err
		}
		if t.Password == "" && !clearPassword {
			t.Password = cur.Password
		}
		t.CreatedAt = cur.CreatedAt
	}
	if err := ValidateTrunk(&t.TrunkConfig); err != nil {
		return Trunk{}, false, err
	}
	t.UpdatedAt = s.timestamp()
	t.PasswordSet = false
	if created {
		id, err := NewID()
		if err != nil {
			return Trunk{}, false, Internal("creating a trunk", err)
		}
		t.ID, t.CreatedAt = id, t.UpdatedAt
		err = s.store.CreateTrunk(ctx, t)
		return t.Redacted(), true, err
	}
	err := s.store.UpdateTrunk(ctx, t)
	return t.Redacted(), false, err
}

// GetTrunk returns a trunk without its password.
func (s *Service) GetTrunk(ctx context.Context, id string) (Trunk, error) {
	t, err := s.store.GetTrunk(ctx, id)
	if err != nil {
		return Trunk{}, err
	}
	return s.withHealth(t.Redacted()), nil
}

// ListTrunks returns a page of trunks and the total count.
func (s *Service) ListTrunks(ctx context.Context, p Page) ([]Trunk, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	list, total, err := s.store.ListTrunks(ctx, p)
	for i := range list {
		list[i] = s.withHealth(list[i].Redacted())
	}
	return list, total, err
}

// DeleteTrunk removes a trunk; see Store.DeleteTrunk for force.
func (s *Service) DeleteTrunk(ctx context.Context, id string, force bool) error {
	if err := s.store.DeleteTrunk(ctx, id, force); err != nil {
		return err
	}
	if s.health != nil {
		s.health.Forget(id)
	}
	return nil
}

// CreatePhoneNumber validates and stores a phone number.
func (s *Service) CreatePhoneNumber(ctx context.Context, cfg PhoneNumberConfig) (PhoneNumber, error) {
	if err := ValidatePhoneNumber(&cfg); err != nil {
		return PhoneNumber{}, err
	}
	id, err := NewID()
	if err != nil {
		return PhoneNumber{}, Internal("creating a phone number", err)
	}
	n := PhoneNumber{ID: id, PhoneNumberConfig: cfg, CreatedAt: s.timestamp()}
	n.UpdatedAt = n.CreatedAt
	err = s.store.CreatePhoneNumber(ctx, n)
	s.policy.numbersChanged()
	if err != nil {
		return PhoneNumber{}, err
	}
	return n, nil
}

// GetPhoneNumber returns a phone number.
func (s *Service) GetPhoneNumber(ctx context.Context, id string) (PhoneNumber, error) {
	return s.store.GetPhoneNumber(ctx, id)
}

// ListPhoneNumbers returns a page of phone numbers and the total count.
func (s *Service) ListPhoneNumbers(ctx context.Context, p Page) ([]PhoneNumber, int, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, 0, err
	}
	return s.store.ListPhoneNumbers(ctx, p)
}

// UpdatePhoneNumber applies a JSON merge patch to a phone number; null
// detaches assistant_id or transfer_trunk_id.
func (s *Service) UpdatePhoneNumber(ctx context.Context, id string, patch json.RawMessage) (PhoneNumber, error) {
	cur, err := s.store.GetPhoneNumber(ctx, id)
	if err != nil {
		return PhoneNumber{}, err
	}
	var next PhoneNumber
	if err := applyPatch(cur, patch, &next); err != nil {
		return PhoneNumber{}, err
	}
	if err := ValidatePhoneNumber(&next.PhoneNumberConfig); err != nil {
		return PhoneNumber{}, err
	}
	next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, s.timestamp()
	err = s.store.UpdatePhoneNumber(ctx, next)
	s.policy.numbersChanged()
	if err != nil {
		return PhoneNumber{}, err
	}
	return next, nil
}

// DeletePhoneNumber removes a phone number.
func (s *Service) DeletePhoneNumber(ctx context.Context, id string) error {
	err := s.store.DeletePhoneNumber(ctx, id)
	s.policy.numbersChanged()
	return err
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
