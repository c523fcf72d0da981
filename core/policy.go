package core

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/nyaruka/phonenumbers"
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

// DefaultDeniedTypes are the number types refused when
// VOICEDOCK_TRANSFER_DENIED_TYPES is not set: calls to them cost money
// per minute, or reach someone other than the number suggests.
func DefaultDeniedTypes() []string {
	return []string{"premium_rate", "shared_cost", "uan", "personal", "pager", "unknown"}
}

// NumberTypes are the number type names the policy knows, in
// libphonenumber's order.
func NumberTypes() []string {
	return []string{"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal", "pager", "uan", "voicemail", "unknown"}
}

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

// PolicyConfig is the deployment's transfer policy, from configuration.
type PolicyConfig struct {
	// AllowedCountries are the countries number destinations may be in:
	// ISO 3166 region codes (NL) or country calling codes (31 or +31;
	// every region sharing the code). "*" allows every country. Empty:
	// the countries of the deployment's own phone numbers, read from the
	// store once and again after the Service holding the policy (SetPolicy)
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
// store are written through the Service it is given to (SetPolicy), which
// drops the cache at each write.
type Policy struct {
	countries   countrySet // any, or a list; fromNumbers when not configured
	fromNumbers bool
	denied      map[string]bool
	domains     domainSet
	fromTrunks  bool
	adhoc       bool
	logger      *slog.Logger
	own         ownCountriesCache
}

// ownCountriesCache holds the countries of the deployment's own numbers.
// Reading every number from the store and parsing it cost ~0.3 ms at each
// transfer check (BenchmarkPolicyCheckOwnCountries) for a list that
// changes only when a number is written.
type ownCountriesCache struct {
	mu  sync.Mutex
	gen uint64      // bumped by every invalidation
	set *countrySet // nil: not loaded since the last invalidation; read-only once set
}

// get returns the cached countries, loading them when there are none. A
// load that overlaps an invalidation is returned to its caller but not
// kept: it may have read the store before the write that invalidated it.
func (c *ownCountriesCache) get(ctx context.Context, store Store) (countrySet, error) {
	c.mu.Lock()
	if c.set != nil {
		set := *c.set
		c.mu.Unlock()
		return set, nil
	}
	gen := c.gen
	c.mu.Unlock()
	set, err := ownCountries(ctx, store)
	if err != nil || store == nil {
		return set, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.set = &set
	}
	c.mu.Unlock()
	return set, nil
}

func (c *ownCountriesCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.set = nil
	c.mu.Unlock()
}

// numbersChanged drops the cached countries of the deployment's own
// numbers; the Service calls it after every phone number write, whether or
// not the write succeeded (a failed commit may still have been applied).
func (p *Policy) numbersChanged() {
	if p != nil {
		p.own.invalidate()
	}
}

// NewPolicy checks the configuration and returns the policy. An unknown
// region, calling code, number type or a malformed host is an error.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	p := &Policy{adhoc: cfg.AllowAdhoc, logger: cfg.Logger, denied: map[string]bool{}}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	countries, err := parseCountries(cfg.AllowedCountries, true)
	if err != nil {
		return nil, fmt.Errorf("VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES: %w", err)
	}
	p.countries, p.fromNumbers = countries, countries.empty()
	types := cfg.DeniedTypes
	if types == nil {
		types = DefaultDeniedTypes()
	}
	for _, t := range types {
		t = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(t)), "-", "_")
		switch t {
		case "":
			continue
		case "none":
			if len(nonEmpty(types)) > 1 {
				return nil, fmt.Errorf("VOICEDOCK_TRANSFER_DENIED_TYPES: none cannot be combined with types")
			}
			continue
		case "personal_number":
			t = "personal"
		}
		if !slices.Contains(NumberTypes(), t) {
			return nil, fmt.Errorf("VOICEDOCK_TRANSFER_DENIED_TYPES: unknown number type %q; known: %s, or none", t, strings.Join(NumberTypes(), ", "))
		}
		p.denied[t] = true
	}
	domains, err := parseDomains(cfg.SIPAllowedDomains)
	if err != nil {
		return nil, fmt.Errorf("VOICEDOCK_SIP_ALLOWED_DOMAINS: %w", err)
	}
	p.domains, p.fromTrunks = domains, domains.empty()
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

// Check decides whether a caller may be transferred to dest now. With an
// assistant it also applies the assistant's transfer_policy and the ad-hoc
// rule (dest must be one of the assistant's destinations unless ad-hoc
// transfers are allowed); with none, only the deployment's rules (what
// create_call's destination gets). Rules are applied in this order:
// emergency numbers, denied types, the deployment's countries, the
// assistant's countries, SIP hosts, ad-hoc. A malformed destination is an
// error (invalid_request); a refusal is a Verdict, not an error. The store
// is read for the rules that default to the deployment's own numbers and
// trunks.
func (p *Policy) Check(ctx context.Context, store Store, dest Destination, assistant *Assistant) (Verdict, error) {
	return p.check(ctx, store, "destination", dest, assistant, false)
}

// Require is Check for a destination about to be used: a refusal is
// logged with its rule and returned as a destination_not_allowed error
// naming param. attrs are added to the log line (call_id, ...).
func (p *Policy) Require(ctx context.Context, store Store, param string, dest Destination, assistant *Assistant, attrs ...any) (Verdict, error) {
	v, err := p.check(ctx, store, param, dest, assistant, false)
	if err != nil {
		return v, err
	}
	return v, p.enforce(ctx, v, param, dest.Target(), attrs...)
}

// enforce logs a refusal and turns it into an error.
func (p *Policy) enforce(ctx context.Context, v Verdict, param, target string, attrs ...any) error {
	if v.Allowed {
		return nil
	}
	args := append([]any{"rule", v.Rule, "destination", clip(target), "param", param, "reason", v.Reason}, attrs...)
	p.logger.InfoContext(ctx, "transfer destination refused", args...)
	return v.Err(param)
}

// CheckAttempts applies the assistant's max_transfers_per_call to a call
// that has seen attempted transfers already.
func (p *Policy) CheckAttempts(assistant *Assistant, attempted int) Verdict {
	if assistant == nil || assistant.TransferPolicy == nil || assistant.TransferPolicy.MaxTransfersPerCall <= 0 {
		return Verdict{Allowed: true, Rule: RuleMaxTransfers, Reason: "no limit on transfers per call"}
	}
	limit := assistant.TransferPolicy.MaxTransfersPerCall
	if attempted >= limit {
		return Verdict{Rule: RuleMaxTransfers, Reason: fmt.Sprintf("this call has had %d transfer attempts; the assistant's transfer_policy.max_transfers_per_call is %d", attempted, limit)}
	}
	return Verdict{Allowed: true, Rule: RuleMaxTransfers, Reason: fmt.Sprintf("%d of %d transfer attempts used", attempted, limit)}
}

// CheckAssistant checks every configured destination of an assistant
// being created or updated, with its own transfer_policy. Rules that
// default to the deployment's own numbers or trunks are applied once
// there are numbers or trunks to derive them from: an assistant is often
// set up before its number, and every transfer is checked again anyway.
func (p *Policy) CheckAssistant(ctx context.Context, store Store, a *AssistantConfig) error {
	if a.LLMConfig == nil {
		return nil
	}
	assistant := &Assistant{AssistantConfig: *a}
	for i, t := range a.LLMConfig.Tools {
		if t.Type != ToolTransferCall {
			continue
		}
		for j, d := range t.Destinations {
			param := indexed(indexed("llm_config.tools", i)+".destinations", j)
			if d.Type == DestinationSIP {
				param += ".sip_uri"
			} else {
				param += ".number"
			}
			v, err := p.check(ctx, store, param, d, assistant, true)
			if err != nil {
				return err
			}
			if err := p.enforce(ctx, v, param, d.Target(), "assistant", a.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// check is Check; lenient defers the rules derived from the store while
// the store has nothing to derive them from (configuration time).
func (p *Policy) check(ctx context.Context, store Store, param string, dest Destination, a *Assistant, lenient bool) (Verdict, error) {
	var v Verdict
	var err error
	switch dest.Type {
	case DestinationNumber:
		v, err = p.checkNumber(ctx, store, param, dest.Number, a, lenient)
	case DestinationSIP:
		v, err = p.checkSIP(ctx, store, param, dest.SIPURI, a, lenient)
	default:
		return Verdict{}, FieldError(CodeInvalidRequest, param, "destination type %q is not number or sip", clip(dest.Type))
	}
	if err != nil || !v.Allowed {
		return v, err
	}
	if a == nil {
		v.Rule, v.Reason = RuleDeployment, fmt.Sprintf("%s passes the deployment's transfer rules", describeDest(v, dest))
		return v, nil
	}
	if isConfigured(a, dest, v) {
		v.Rule, v.Reason = RuleConfigured, fmt.Sprintf("%s is one of the assistant's transfer destinations and passes the transfer rules", describeDest(v, dest))
		return v, nil
	}
	if !p.adhoc {
		return refused(v, RuleAdhoc, "%s is not one of the assistant's transfer destinations, and ad-hoc transfers are off (VOICEDOCK_ALLOW_ADHOC_TRANSFERS)", dest.Target()), nil
	}
	if tp := a.TransferPolicy; tp != nil && tp.AllowAdhoc != nil && !*tp.AllowAdhoc {
		return refused(v, RuleAdhoc, "%s is not one of the assistant's transfer destinations, and the assistant's transfer_policy.allow_adhoc is false", dest.Target()), nil
	}
	v.Rule, v.Reason = RuleAdhoc, fmt.Sprintf("%s is not one of the assistant's destinations; ad-hoc transfers are allowed (VOICEDOCK_ALLOW_ADHOC_TRANSFERS) and it passes the transfer rules", describeDest(v, dest))
	return v, nil
}

func describeDest(v Verdict, dest Destination) string {
	if v.E164 != "" && dest.Type == DestinationNumber {
		return fmt.Sprintf("%s (%s, %s)", v.E164, typeWords(v.NumberType), regionName(v.Region, v.Country))
	}
	return dest.Target()
}

// isConfigured reports whether dest is one of the assistant's transfer
// destinations.
func isConfigured(a *Assistant, dest Destination, v Verdict) bool {
	for _, d := range a.TransferDestinations() {
		if d.Type != dest.Type {
			continue
		}
		switch d.Type {
		case DestinationNumber:
			if d.Number == dest.Number || (v.E164 != "" && d.Number == v.E164) {
				return true
			}
		case DestinationSIP:
			if strings.EqualFold(d.SIPURI, dest.SIPURI) || (v.SIPURI != "" && strings.EqualFold(d.SIPURI, v.SIPURI)) {
				return true
			}
		}
	}
	return false
}

// checkNumber applies the number rules to an E.164 number.
func (p *Policy) checkNumber(ctx context.Context, store Store, param, s string, a *Assistant, lenient bool) (Verdict, error) {
	if !isE164Shape(s) {
		_, err := ParseE164(param, s)
		if err == nil {
			err = FieldError(CodeInvalidRequest, param, "phone number %q must be E.164", clip(s))
		}
		return Verdict{}, err
	}
	if e, ok := emergencyNumber(s); ok {
		v := Verdict{E164: s, Region: e.region, Country: e.country, NumberType: "emergency"}
		return refused(v, RuleEmergency, "%s is %s, the emergency number of %s; emergency numbers are never transfer destinations", s, e.short, e.region), nil
	}
	info, err := ParseE164(param, s)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Allowed: true, E164: info.E164, Region: info.Region, NumberType: info.Type, Country: info.Country}
	return p.numberRules(ctx, store, v, a, lenient)
}

// numberRules applies the type and country rules to a parsed number.
func (p *Policy) numberRules(ctx context.Context, store Store, v Verdict, a *Assistant, lenient bool) (Verdict, error) {
	if p.typeDenied(v.NumberType) {
		return refused(v, RuleDeniedTypes, "%s is a %s number (%s); %s numbers are denied (VOICEDOCK_TRANSFER_DENIED_TYPES)", v.E164, typeWords(v.NumberType), regionName(v.Region, v.Country), typeWords(v.NumberType)), nil
	}
	allowed, fromNumbers, err := p.allowedCountries(ctx, store)
	if err != nil {
		return v, err
	}
	where := regionName(v.Region, v.Country)
	switch {
	case !fromNumbers && !allowed.matches(v.Region, v.Country):
		return refused(v, RuleAllowedCountries, "country %s of %s is not in VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES (%s)", where, v.E164, allowed), nil
	case fromNumbers && allowed.empty() && !lenient:
		return refused(v, RuleAllowedCountries, "country %s of %s is not allowed: VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES is not set, so only the countries of this deployment's own phone numbers are, and none is registered", where, v.E164), nil
	case fromNumbers && !allowed.empty() && !allowed.matches(v.Region, v.Country):
		return refused(v, RuleAllowedCountries, "country %s of %s is not a country of this deployment's own phone numbers (%s), which are the allowed ones while VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES is not set", where, v.E164, allowed), nil
	}
	if a != nil && a.TransferPolicy != nil && len(a.TransferPolicy.AllowedCountries) > 0 {
		own, err := parseCountries(a.TransferPolicy.AllowedCountries, false)
		if err != nil {
			return v, FieldError(CodeInvalidRequest, "transfer_policy.allowed_countries", "%v", err)
		}
		if !own.matches(v.Region, v.Country) {
			return refused(v, RuleAssistantCountries, "country %s of %s is not in the assistant's transfer_policy.allowed_countries (%s)", where, v.E164, own), nil
		}
	}
	return v, nil
}

// typeDenied reports whether numbers of type t are refused. A number that
// may be either a fixed line or a mobile (the US, Canada) is refused when
// that type is denied, or both fixed_line and mobile are.
func (p *Policy) typeDenied(t string) bool {
	if p.denied[t] {
		return true
	}
	return t == "fixed_line_or_mobile" && p.denied["fixed_line"] && p.denied["mobile"]
}

// allowedCountries returns the configured countries, or those of the
// deployment's own numbers (fromNumbers).
func (p *Policy) allowedCountries(ctx context.Context, store Store) (countrySet, bool, error) {
	if !p.fromNumbers {
		return p.countries, false, nil
	}
	set, err := p.own.get(ctx, store)
	return set, true, err
}

// ownCountries are the countries of the deployment's own phone numbers:
// their regions, or the calling code of a non-geographic number.
func ownCountries(ctx context.Context, store Store) (countrySet, error) {
	set := countrySet{regions: map[string]bool{}, codes: map[int]bool{}}
	if store == nil {
		return set, nil
	}
	err := eachPage(ctx, store.ListPhoneNumbers, func(n PhoneNumber) {
		info, err := ParseE164("phone_number", n.PhoneNumber)
		if err != nil {
			return
		}
		if info.Region == "" || info.Region == "001" {
			set.codes[info.Country] = true
		} else {
			set.regions[info.Region] = true
		}
	})
	if err != nil {
		return set, Internal("listing phone numbers for the transfer policy", err)
	}
	return set, nil
}

// checkSIP applies the SIP rules: the URI must be safe, its host allowed,
// and a phone number in its user part passes the number rules (a PBX or
// trunk would dial it).
func (p *Policy) checkSIP(ctx context.Context, store Store, param, s string, a *Assistant, lenient bool) (Verdict, error) {
	canonical, err := ValidateSIPURI(param, s)
	if err != nil {
		return Verdict{}, err
	}
	var uri sip.Uri
	if err := sip.ParseUri(canonical, &uri); err != nil {
		return Verdict{}, FieldError(CodeInvalidRequest, param, "SIP URI %q cannot be parsed: %v", clip(s), err)
	}
	v := Verdict{Allowed: true, SIPURI: canonical, SIPHost: normHost(uri.Host)}
	v, err = p.sipUser(ctx, store, param, v, uri.User, a, lenient)
	if err != nil || !v.Allowed {
		return v, err
	}
	domains, fromTrunks, err := p.allowedDomains(ctx, store)
	if err != nil {
		return v, err
	}
	switch {
	case !fromTrunks && !domains.matches(v.SIPHost):
		return refused(v, RuleSIPDomains, "%s is not an allowed SIP domain (VOICEDOCK_SIP_ALLOWED_DOMAINS: %s)", v.SIPHost, domains), nil
	case fromTrunks && domains.empty() && !lenient:
		return refused(v, RuleSIPDomains, "%s is not an allowed SIP domain: VOICEDOCK_SIP_ALLOWED_DOMAINS is not set, so only the hosts of the configured trunks are, and there are none", v.SIPHost), nil
	case fromTrunks && !domains.empty() && !domains.matches(v.SIPHost):
		return refused(v, RuleSIPDomains, "%s is not an allowed SIP domain; VOICEDOCK_SIP_ALLOWED_DOMAINS is not set, so only the hosts of the configured trunks (%s) are", v.SIPHost, domains), nil
	}
	return v, nil
}

// maxExtensionDigits is the longest all-digit SIP user part taken for an
// extension rather than a phone number.
const maxExtensionDigits = 6

// sipUser applies the number rules to a SIP URI's user part when it is a
// phone number: +E.164 is checked as that number; digits without + are an
// extension when short (unless an emergency number) and refused when long,
// because their country cannot be told.
func (p *Policy) sipUser(ctx context.Context, store Store, param string, v Verdict, user string, a *Assistant, lenient bool) (Verdict, error) {
	if user == "" {
		return v, nil
	}
	u, err := url.PathUnescape(user)
	if err != nil {
		return Verdict{}, FieldError(CodeInvalidRequest, param, "SIP URI user part has a malformed escape")
	}
	if i := strings.IndexByte(u, ';'); i >= 0 {
		u = u[:i] // telephone-subscriber parameters (phone-context, isub)
	}
	digits := strings.Map(func(r rune) rune {
		if strings.ContainsRune("-.() ", r) { // RFC 3966 visual separators
			return -1
		}
		return r
	}, u)
	plus := strings.HasPrefix(digits, "+")
	rest := strings.TrimPrefix(digits, "+")
	if rest == "" || strings.Trim(rest, "0123456789") != "" {
		return v, nil // not a number: a name or an extension like desk
	}
	if plus {
		nv, err := p.checkNumber(ctx, store, param, "+"+rest, a, lenient)
		if err != nil {
			return Verdict{}, FieldError(CodeInvalidRequest, param, "the SIP URI's user part %s is not a valid E.164 number", clip(user))
		}
		nv.SIPURI, nv.SIPHost = v.SIPURI, v.SIPHost
		return nv, nil
	}
	if where, ok := p.shortEmergency(ctx, store, rest); ok {
		v.NumberType = "emergency"
		return refused(v, RuleEmergency, "the SIP URI's user part %s is %s; emergency numbers are never transfer destinations", rest, where), nil
	}
	if len(rest) > maxExtensionDigits {
		return refused(v, RuleSIPNumberForm, "the SIP URI's user part %s looks like a phone number that is not in E.164 form, so its country and type cannot be checked; write it as +<country code><number>", clip(rest)), nil
	}
	return v, nil
}

// shortEmergency reports whether digits dialled through a PBX or trunk
// would reach an emergency service: 112, 911 and 999 anywhere, and the
// emergency numbers of the deployment's countries (those configured and
// those of its own numbers). It returns where.
func (p *Policy) shortEmergency(ctx context.Context, store Store, digits string) (string, bool) {
	if digits == "112" || digits == "911" || digits == "999" {
		return "a universal emergency number", true
	}
	own, err := p.own.get(ctx, store)
	if err != nil {
		return "", false
	}
	regions := append(p.countries.regionList(), own.regionList()...)
	for _, r := range regions {
		if phonenumbers.IsEmergencyNumber(digits, r) {
			return "the emergency number of " + r, true
		}
	}
	return "", false
}

// allowedDomains returns the configured SIP hosts, or the trunks' hosts
// (fromTrunks).
func (p *Policy) allowedDomains(ctx context.Context, store Store) (domainSet, bool, error) {
	if !p.fromTrunks {
		return p.domains, false, nil
	}
	set := domainSet{exact: map[string]bool{}}
	if store == nil {
		return set, true, nil
	}
	err := eachPage(ctx, store.ListTrunks, func(t Trunk) { set.exact[normHost(t.Host)] = true })
	if err != nil {
		return set, true, Internal("listing trunks for the transfer policy", err)
	}
	return set, true, nil
}

// eachPage calls fn for every object of a paged list.
func eachPage[T any](ctx context.Context, list func(context.Context, Page) ([]T, int, error), fn func(T)) error {
	for p := (Page{Limit: MaxPageLimit}); ; p.Offset += p.Limit {
		items, total, err := list(ctx, p)
		if err != nil {
			return err
		}
		for _, it := range items {
			fn(it)
		}
		if len(items) == 0 || p.Offset+len(items) >= total {
			return nil
		}
	}
}

// emergency describes an emergency number written in E.164.
type emergency struct {
	region  string
	country int
	short   string
}

// emergencyNumber reports whether an E.164-shaped string is an emergency
// number of its country written with the country code (+31112, +1911,
// +44999): a trunk may well route it to the emergency service.
// libphonenumber refuses to call "+1911" an emergency number, so the
// digits after the country code are checked in each region sharing it.
func emergencyNumber(s string) (emergency, bool) {
	digits := strings.TrimPrefix(s, "+")
	for l := 1; l <= 3 && l < len(digits); l++ {
		cc, err := strconv.Atoi(digits[:l])
		if err != nil {
			return emergency{}, false
		}
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		if len(regions) == 0 {
			continue
		}
		national := digits[l:]
		for _, r := range regions {
			if phonenumbers.IsEmergencyNumber(national, r) {
				return emergency{region: r, country: cc, short: national}, true
			}
		}
		return emergency{}, false // country codes are prefix-free
	}
	return emergency{}, false
}

// countrySet is a set of regions and calling codes, or every country.
type countrySet struct {
	any     bool
	regions map[string]bool
	codes   map[int]bool
}

func (c countrySet) empty() bool { return !c.any && len(c.regions) == 0 && len(c.codes) == 0 }

func (c countrySet) matches(region string, code int) bool {
	return c.any || c.regions[region] || c.codes[code]
}

// regionList is every region the set names, directly or by calling code.
func (c countrySet) regionList() []string {
	seen := map[string]bool{}
	for r := range c.regions {
		seen[r] = true
	}
	for code := range c.codes {
		for _, r := range phonenumbers.GetRegionCodesForCountryCode(code) {
			seen[r] = true
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (c countrySet) String() string {
	if c.any {
		return "*"
	}
	var out []string
	for r := range c.regions {
		out = append(out, r)
	}
	sort.Strings(out)
	var codes []int
	for code := range c.codes {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	for _, code := range codes {
		out = append(out, "+"+strconv.Itoa(code))
	}
	return strings.Join(out, ", ")
}

// ParseCountry reads one country: an ISO 3166 region code (NL; UK is
// taken for GB) or a country calling code (31 or +31). It returns the
// normalised form: the upper-case region, or the code's digits.
func ParseCountry(s string) (string, error) {
	s = strings.TrimSpace(s)
	if digits := strings.TrimPrefix(s, "+"); digits != "" && strings.Trim(digits, "0123456789") == "" {
		code, err := strconv.Atoi(digits)
		if err != nil || len(digits) > 3 || digits[0] == '0' || len(phonenumbers.GetRegionCodesForCountryCode(code)) == 0 {
			return "", fmt.Errorf("%q is not a country calling code", clip(s))
		}
		return strconv.Itoa(code), nil
	}
	region := strings.ToUpper(s)
	if region == "UK" {
		region = "GB"
	}
	if len(region) != 2 || !phonenumbers.GetSupportedRegions()[region] {
		return "", fmt.Errorf("%q is not an ISO 3166 region code (NL) or a calling code (31)", clip(s))
	}
	return region, nil
}

// parseCountries reads a list of countries; "*" (when allowed) is every
// country.
func parseCountries(list []string, allowAny bool) (countrySet, error) {
	set := countrySet{regions: map[string]bool{}, codes: map[int]bool{}}
	for _, s := range list {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			continue
		case s == "*" && allowAny:
			set.any = true
			continue
		}
		c, err := ParseCountry(s)
		if err != nil {
			return set, err
		}
		if code, err := strconv.Atoi(c); err == nil {
			set.codes[code] = true
		} else {
			set.regions[c] = true
		}
	}
	return set, nil
}

// regionName names a number's country for messages.
func regionName(region string, code int) string {
	if region == "" || region == "001" || region == "ZZ" {
		return fmt.Sprintf("+%d (non-geographic)", code)
	}
	return region
}

// typeWords says a number type in words.
func typeWords(t string) string {
	switch t {
	case "premium_rate":
		return "premium-rate"
	case "shared_cost":
		return "shared-cost"
	case "toll_free":
		return "toll-free"
	case "fixed_line":
		return "fixed-line"
	case "fixed_line_or_mobile":
		return "fixed-line-or-mobile"
	case "uan":
		return "UAN (universal access)"
	case "voip":
		return "VoIP"
	case "unknown":
		return "unknown-type"
	}
	return t
}

// domainSet is a set of SIP hosts: exact names and addresses, parent
// domains whose subdomains match, or every host.
type domainSet struct {
	any      bool
	exact    map[string]bool
	suffixes []string // ".example.com"
}

func (d domainSet) empty() bool { return !d.any && len(d.exact) == 0 && len(d.suffixes) == 0 }

func (d domainSet) matches(host string) bool {
	if d.any || d.exact[host] {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return false // an address never matches a wildcard
	}
	for _, s := range d.suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

func (d domainSet) String() string {
	if d.any {
		return "*"
	}
	var out []string
	for h := range d.exact {
		out = append(out, h)
	}
	for _, s := range d.suffixes {
		out = append(out, "*"+s)
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("and %d more", len(out)-10))
	}
	return strings.Join(out, ", ")
}

// parseDomains reads VOICEDOCK_SIP_ALLOWED_DOMAINS.
func parseDomains(list []string) (domainSet, error) {
	set := domainSet{exact: map[string]bool{}}
	for _, s := range list {
		s = strings.ToLower(strings.TrimSpace(s))
		switch {
		case s == "":
			continue
		case s == "*":
			set.any = true
			continue
		case strings.HasPrefix(s, "*."):
			parent := strings.TrimSuffix(s[2:], ".")
			if _, err := netip.ParseAddr(parent); err == nil || !isHost(parent) || strings.Contains(parent, "*") {
				return set, fmt.Errorf("%q is not *.<domain>", s)
			}
			set.suffixes = append(set.suffixes, "."+parent)
			continue
		}
		if !isHost(s) {
			return set, fmt.Errorf("%q is not a host name or IP address (no scheme, port or path)", s)
		}
		set.exact[normHost(s)] = true
	}
	return set, nil
}

// normHost is a host in the form hosts are compared in: lower case, no
// trailing dot, addresses without brackets in canonical form.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return h
}

// validateTransferPolicy checks an assistant's transfer_policy and
// normalises its countries in place.
func validateTransferPolicy(tp *TransferPolicy) error {
	if len(tp.AllowedCountries) > 50 {
		return FieldError(CodeInvalidRequest, "transfer_policy.allowed_countries", "at most 50 countries")
	}
	seen := map[string]bool{}
	for i, s := range tp.AllowedCountries {
		c, err := ParseCountry(s)
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

// SetPolicy gives the service the deployment's transfer policy, which
// every assistant's destinations must pass when it is created or updated.
// Without one, the baseline applies: emergency numbers and the default
// denied types are refused.
func (s *Service) SetPolicy(p *Policy) { s.policy = p }

func (s *Service) transferPolicy() *Policy {
	if s.policy != nil {
		return s.policy
	}
	return baselinePolicy(false, s.logger)
}

// checkDestinations applies the transfer policy to an assistant's
// configured destinations.
func (s *Service) checkDestinations(ctx context.Context, a *AssistantConfig) error {
	return s.transferPolicy().CheckAssistant(ctx, s.store, a)
}

// DestinationCheck is what check_destination answers: the verdict, the
// destination in canonical form, and the route a transfer would take.
type DestinationCheck struct {
	Verdict
	Destination string
	Type        string
	AssistantID string
	// Route is the Refer-To URI a transfer would carry, when it can be
	// told without a call; RouteNote explains it.
	Route     string
	RouteNote string
}

// CheckDestination answers whether a transfer to destination (an E.164
// number or a SIP URI) would be allowed, for a call answered by the given
// assistant ("" for the deployment's rules only), and which route it would
// take. Nothing is dialled.
func (s *Service) CheckDestination(ctx context.Context, destination, assistantID string) (DestinationCheck, error) {
	dest, err := ParseTarget("destination", destination)
	if err != nil {
		return DestinationCheck{}, err
	}
	var a *Assistant
	if assistantID != "" {
		got, err := s.store.GetAssistant(ctx, assistantID)
		if HasCode(err, CodeNotFound) {
			return DestinationCheck{}, FieldError(CodeNotFound, "assistant_id", "assistant %q not found", clip(assistantID))
		}
		if err != nil {
			return DestinationCheck{}, err
		}
		a = &got
	}
	v, err := s.transferPolicy().Check(ctx, s.store, dest, a)
	if err != nil {
		return DestinationCheck{}, err
	}
	out := DestinationCheck{Verdict: v, Destination: dest.Target(), Type: dest.Type, AssistantID: assistantID}
	if v.SIPURI != "" {
		out.Destination = v.SIPURI
	} else if v.E164 != "" {
		out.Destination = v.E164
	}
	out.Route, out.RouteNote, err = s.routeFor(ctx, out.Destination, dest.Type, a)
	return out, err
}

// routeFor says where a transfer to target would be sent; see
// Calls.route, which decides it on a live call.
func (s *Service) routeFor(ctx context.Context, target, typ string, a *Assistant) (string, string, error) {
	if typ == DestinationSIP {
		return target, "a SIP URI is sent as it is", nil
	}
	if a == nil {
		return "", "depends on the call's phone number: through its transfer_trunk_id, or without one back to the caller's source; give assistant_id to see it", nil
	}
	var numbers []PhoneNumber
	err := eachPage(ctx, s.store.ListPhoneNumbers, func(n PhoneNumber) {
		if n.AssistantID != nil && *n.AssistantID == a.ID {
			numbers = append(numbers, n)
		}
	})
	if err != nil {
		return "", "", err
	}
	if len(numbers) == 0 {
		return "", "no phone number uses this assistant: a number goes through the call's phone number's transfer_trunk_id, or without one back to the caller's source", nil
	}
	trunks := map[string]bool{}
	var first *PhoneNumber
	withTrunk := 0
	for i, n := range numbers {
		if n.TransferTrunkID != nil {
			withTrunk++
			trunks[*n.TransferTrunkID] = true
			if first == nil {
				first = &numbers[i]
			}
		}
	}
	if first == nil {
		return "", "no transfer trunk: back to the caller's source (the address the call came from)", nil
	}
	t, err := s.store.GetTrunk(ctx, *first.TransferTrunkID)
	if err != nil {
		return "", "", err
	}
	note := fmt.Sprintf("through trunk %q (%s), the transfer trunk of phone number %s", t.Name, t.ID, first.PhoneNumber)
	if len(trunks) > 1 || withTrunk < len(numbers) {
		note += "; this assistant's other numbers route differently"
	}
	return TrunkURI(target, t), note, nil
}

// transferPolicy is the policy of the call manager: the configured one,
// or the baseline with CallsConfig.AllowAdhocTransfers.
func (m *Calls) transferPolicy() *Policy {
	if m.cfg.Policy != nil {
		return m.cfg.Policy
	}
	return baselinePolicy(m.cfg.AllowAdhocTransfers, m.logger)
}

// checkTransfer applies the transfer policy to a transfer of lc's call;
// lc.mu is held. A refusal is logged and returned; nothing is sent.
//
// With askable (the request can ask the human), an ad-hoc destination
// that passes every other rule is not decided by the ad-hoc rule: unless
// confirmed, checkTransfer returns the Confirmation to put to the human;
// once confirmed, it is allowed and usedConfirmation is true.
func (m *Calls) checkTransfer(ctx context.Context, lc *liveCall, dest Destination, askable, confirmed bool) (q *Confirmation, usedConfirmation bool, err error) {
	a, err := m.callAssistant(ctx, lc)
	if err != nil {
		return nil, false, err
	}
	p := m.transferPolicy()
	if v := p.CheckAttempts(a, attempted(lc.call.Transfers)); !v.Allowed {
		return nil, false, p.enforce(ctx, v, "call_id", dest.Target(), "call_id", lc.call.ID)
	}
	v, err := p.check(ctx, m.store, "destination", dest, a, false)
	if err != nil {
		return nil, false, err
	}
	// The ad-hoc rule is the last one: a verdict naming it passed all the
	// others.
	if askable && v.Rule == RuleAdhoc && !adhocForbidden(a) {
		if confirmed {
			m.logger.InfoContext(ctx, "ad-hoc transfer destination confirmed by the user", "destination", clip(dest.Target()), "call_id", lc.call.ID)
			return nil, true, nil
		}
		target := dest.Target()
		if v.E164 != "" && dest.Type == DestinationNumber {
			target = v.E164
		}
		return &Confirmation{Destination: target, Region: v.Region, NumberType: v.NumberType, Assistant: a.Name}, false, nil
	}
	return nil, false, p.enforce(ctx, v, "destination", dest.Target(), "call_id", lc.call.ID)
}

// callAssistant is the assistant whose rules a call's transfers follow,
// as configuredDestination finds it: the call's own (with any
// assistant-request override), or the stored one. A call without one (or
// whose assistant is gone) gets an assistant with no destinations, so only
// ad-hoc transfers can pass.
func (m *Calls) callAssistant(ctx context.Context, lc *liveCall) (*Assistant, error) {
	if lc.assistant != nil {
		return lc.assistant, nil
	}
	if lc.call.AssistantID == "" {
		return &Assistant{}, nil
	}
	a, err := m.store.GetAssistant(ctx, lc.call.AssistantID)
	if HasCode(err, CodeNotFound) {
		return &Assistant{ID: lc.call.AssistantID}, nil
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// checkDial applies the deployment's rules to create_call's destination.
func (m *Calls) checkDial(ctx context.Context, req DialRequest) error {
	if err := checkDestinationNumber("destination", req.Destination); err != nil {
		return err
	}
	_, err := m.transferPolicy().Require(ctx, m.store, "destination", Destination{Type: DestinationNumber, Number: req.Destination}, nil, "number_id", req.NumberID)
	return err
}

// attempted counts the transfers that went out (a REFER was sent);
// refusals recorded on the call are not attempts.
func attempted(ts []Transfer) int {
	n := 0
	for _, t := range ts {
		if t.ReferTo != "" {
			n++
		}
	}
	return n
}
