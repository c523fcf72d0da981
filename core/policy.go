package core

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/voicedock/voicedock/core/numbering"
)

// The transfer policy decides where a caller may be sent. It is one set
// of rules applied to every destination: an assistant's configured
// destinations when it is created or updated, transfer_call, create_call
// and check_destination. The deployment sets the rules (PolicyConfig); an
// assistant's TransferPolicy can only narrow them.

// Rules that decide a Verdict. A refusal names the rule that refused;
// an allowed verdict names the rule that let it through.
const (
	RuleEmergency          = "emergency_number"       // never a destination, whatever the configuration
	RuleDeniedTypes        = "denied_types"           // VOICEDOCK_TRANSFER_DENIED_TYPES
	RuleAllowedCountries   = "allowed_countries"      // VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES, or the countries of our numbers
	RuleAssistantCountries = "assistant_countries"    // the assistant's transfer_policy.allowed_countries
	RuleSIPDomains         = "sip_allowed_domains"    // VOICEDOCK_SIP_ALLOWED_DOMAINS, or the hosts of the trunks
	RuleSIPNumberForm      = "sip_number_form"        // a SIP URI whose user part is a number not in E.164 form
	RuleAdhoc              = "adhoc_transfers"        // VOICEDOCK_ALLOW_ADHOC_TRANSFERS and transfer_policy.allow_adhoc
	RuleMaxTransfers       = "max_transfers_per_call" // the assistant's transfer_policy.max_transfers_per_call
	RuleConfigured         = "configured_destination" // allowed: one of the assistant's destinations
	RuleDeployment         = "deployment_rules"       // allowed: no assistant given, the deployment's rules pass
)

// TransferPolicy is an assistant's own transfer rules. They can only
// narrow the deployment's: a country outside the deployment's list stays
// refused, and allow_adhoc only counts when the deployment allows ad-hoc
// transfers at all.
type TransferPolicy struct {
	AllowedCountries []string `json:"allowed_countries,omitempty" jsonschema:"description=Countries this assistant may transfer to: ISO 3166 region codes (NL) or calling codes (31); within the deployment's allowed countries. Empty: the deployment's,maxItems=50"`
	// AllowAdhoc is a pointer so that an absent value (the deployment's
	// setting) differs from false (no ad-hoc transfers for this assistant).
	AllowAdhoc          *bool `json:"allow_adhoc,omitempty" jsonschema:"description=Whether transfer_call may go to destinations this assistant does not list; true has effect only when VOICEDOCK_ALLOW_ADHOC_TRANSFERS is on. Absent: the deployment's setting"`
	MaxTransfersPerCall int   `json:"max_transfers_per_call,omitempty" jsonschema:"description=At most this many transfer attempts on one call (0: no limit),minimum=0,maximum=100"`
}

// maxTransfersPerCallLimit bounds transfer_policy.max_transfers_per_call.
const maxTransfersPerCallLimit = 100

// validateTransferPolicy checks an assistant's transfer_policy and
// normalises its countries in place.
func validateTransferPolicy(tp *TransferPolicy) error {
	if len(tp.AllowedCountries) > 50 {
		return FieldError(CodeInvalidRequest, "transfer_policy.allowed_countries", "at most 50 countries")
	}
	seen := map[string]bool{}
	for i, s := range tp.AllowedCountries {
		c, err := numbering.ParseCountry(s)
		if err != nil {
			return FieldError(CodeInvalidRequest, indexed("transfer_policy.allowed_countries", i), "%v", err)
		}
		if seen[c] {
			return FieldError(CodeInvalidRequest, indexed("transfer_policy.allowed_countries", i), "%s is listed twice", c)
		}
		seen[c] = true
		tp.AllowedCountries[i] = c
	}
	if tp.MaxTransfersPerCall < 0 || tp.MaxTransfersPerCall > maxTransfersPerCallLimit {
		return FieldError(CodeInvalidRequest, "transfer_policy.max_transfers_per_call", "must be between 0 (no limit) and %d", maxTransfersPerCallLimit)
	}
	return nil
}

// PolicyConfig is the deployment's transfer policy, from configuration.
type PolicyConfig struct {
	// AllowedCountries are the countries number destinations may be in:
	// ISO 3166 region codes (NL) or country calling codes (31 or +31;
	// every region sharing the code). "*" allows every country. Empty:
	// the countries of the deployment's own phone numbers, read from the
	// store once and again after the Configuration holding the policy (SetPolicy)
	// creates, updates or deletes a phone number.
	AllowedCountries []string
	// DeniedTypes are the libphonenumber number types refused (see
	// NumberTypes). nil: DefaultDeniedTypes; "none" or an empty non-nil
	// list: none.
	DeniedTypes []string
	// SIPAllowedDomains are the hosts SIP URI destinations may point at:
	// a host name or IP address matches itself, "*.example.com" any
	// subdomain of example.com, "*" every host. Empty: the hosts of the
	// configured trunks, looked up at each check.
	SIPAllowedDomains []string
	// AllowAdhoc lets a transfer go to a destination the call's assistant
	// does not list (VOICEDOCK_ALLOW_ADHOC_TRANSFERS).
	AllowAdhoc bool
	// Logger receives a line for every refusal; nil discards them.
	Logger *slog.Logger
}

// Policy is the deployment's transfer policy. Its rules are immutable; it
// is safe for concurrent use. It caches the countries of the deployment's
// own numbers, so it is meant for one store, and the phone numbers in that
// store are written through the Configuration it is given to (SetPolicy), which
// drops the cache at each write.
type Policy struct {
	countries   numbering.CountrySet // any, or a list; fromNumbers when not configured
	fromNumbers bool
	denied      map[string]bool
	domains     numbering.HostSet
	fromTrunks  bool
	adhoc       bool
	logger      *slog.Logger
	own         ownCountriesCache
	numbers     *numberCache
}

// NewPolicy checks the configuration and returns the policy. An unknown
// region, calling code, number type or a malformed host is an error.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	p := &Policy{adhoc: cfg.AllowAdhoc, logger: cfg.Logger, denied: map[string]bool{}, numbers: newNumberCache()}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	countries, err := numbering.ParseCountries(cfg.AllowedCountries, true)
	if err != nil {
		return nil, fmt.Errorf("VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES: %w", err)
	}
	p.countries, p.fromNumbers = countries, countries.Empty()
	types := cfg.DeniedTypes
	if types == nil {
		types = numbering.DefaultDeniedTypes()
	}
	for _, t := range types {
		t = numbering.NormalizeType(t)
		switch t {
		case "":
			continue
		case "none":
			if len(nonEmpty(types)) > 1 {
				return nil, fmt.Errorf("VOICEDOCK_TRANSFER_DENIED_TYPES: none cannot be combined with types")
			}
			continue
		}
		if !slices.Contains(numbering.Types(), t) {
			return nil, fmt.Errorf("VOICEDOCK_TRANSFER_DENIED_TYPES: unknown number type %q; known: %s, or none", t, strings.Join(numbering.Types(), ", "))
		}
		p.denied[t] = true
	}
	domains, err := numbering.ParseHosts(cfg.SIPAllowedDomains)
	if err != nil {
		return nil, fmt.Errorf("VOICEDOCK_SIP_ALLOWED_DOMAINS: %w", err)
	}
	p.domains, p.fromTrunks = domains, domains.Empty()
	return p, nil
}

// baselinePolicy is what applies where no policy was configured (a core
// used as a library, tests): emergency numbers and the default denied
// types are refused, every country and SIP host is allowed.
func baselinePolicy(adhoc bool, logger *slog.Logger) *Policy {
	p, err := NewPolicy(PolicyConfig{AllowedCountries: []string{"*"}, SIPAllowedDomains: []string{"*"}, AllowAdhoc: adhoc, Logger: logger})
	if err != nil {
		panic("baseline transfer policy: " + err.Error())
	}
	return p
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// Verdict is the policy's answer about one destination.
type Verdict struct {
	Allowed bool `json:"allowed"`
	// Rule names the rule that decided (the Rule* constants).
	Rule string `json:"rule"`
	// Reason says why, naming the setting behind the rule.
	Reason string `json:"reason"`
	// E164, Region, NumberType and Country describe a number destination,
	// or the number in a SIP URI's user part. NumberType is
	// libphonenumber's type, or "emergency".
	E164       string `json:"e164,omitempty"`
	Region     string `json:"region,omitempty"`
	NumberType string `json:"number_type,omitempty"`
	Country    int    `json:"country_code,omitempty"`
	// SIPURI and SIPHost describe a SIP destination: its canonical form
	// and its host.
	SIPURI  string `json:"sip_uri,omitempty"`
	SIPHost string `json:"sip_host,omitempty"`
}

// Err returns the refusal as a destination_not_allowed error naming
// param, or nil when the destination is allowed.
func (v Verdict) Err(param string) error {
	if v.Allowed {
		return nil
	}
	return FieldError(CodeDestinationNotAllowed, param, "%s", v.Reason)
}

func refused(v Verdict, rule, format string, args ...any) Verdict {
	v.Allowed, v.Rule, v.Reason = false, rule, fmt.Sprintf(format, args...)
	return v
}
