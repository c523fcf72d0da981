package core

import (
	"context"
	"sync"

	"github.com/voicedock/voicedock/core/numbering"
)

// checkNumber applies the number rules to an E.164 number.
func (p *Policy) checkNumber(ctx context.Context, store Store, param, s string, a *Assistant, lenient bool) (Verdict, error) {
	if !numbering.IsE164Shape(s) {
		_, err := ParseE164(param, s)
		if err == nil {
			err = FieldError(CodeInvalidRequest, param, "phone number %q must be E.164", clip(s))
		}
		return Verdict{}, err
	}
	if e, ok := numbering.EmergencyNumber(s); ok {
		v := Verdict{E164: s, Region: e.Region, Country: e.Country, NumberType: "emergency"}
		return refused(v, RuleEmergency, "%s is %s, the emergency number of %s; emergency numbers are never transfer destinations", s, e.Short, e.Region), nil
	}
	info, err := p.numbers.parse(param, s)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Allowed: true, E164: info.E164, Region: info.Region, NumberType: info.Type, Country: info.Country}
	return p.numberRules(ctx, store, v, a, lenient)
}

// numberRules applies the type and country rules to a parsed number.
func (p *Policy) numberRules(ctx context.Context, store Store, v Verdict, a *Assistant, lenient bool) (Verdict, error) {
	if p.typeDenied(v.NumberType) {
		return refused(v, RuleDeniedTypes, "%s is a %s number (%s); %s numbers are denied (VOICEDOCK_TRANSFER_DENIED_TYPES)", v.E164, numbering.TypeWords(v.NumberType), numbering.RegionName(v.Region, v.Country), numbering.TypeWords(v.NumberType)), nil
	}
	allowed, fromNumbers, err := p.allowedCountries(ctx, store)
	if err != nil {
		return v, err
	}
	where := numbering.RegionName(v.Region, v.Country)
	switch {
	case !fromNumbers && !allowed.Matches(v.Region, v.Country):
		return refused(v, RuleAllowedCountries, "country %s of %s is not in VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES (%s)", where, v.E164, allowed), nil
	case fromNumbers && allowed.Empty() && !lenient:
		return refused(v, RuleAllowedCountries, "country %s of %s is not allowed: VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES is not set, so only the countries of this deployment's own phone numbers are, and none is registered", where, v.E164), nil
	case fromNumbers && !allowed.Empty() && !allowed.Matches(v.Region, v.Country):
		return refused(v, RuleAllowedCountries, "country %s of %s is not a country of this deployment's own phone numbers (%s), which are the allowed ones while VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES is not set", where, v.E164, allowed), nil
	}
	if a != nil && a.TransferPolicy != nil && len(a.TransferPolicy.AllowedCountries) > 0 {
		own, err := numbering.ParseCountries(a.TransferPolicy.AllowedCountries, false)
		if err != nil {
			return v, FieldError(CodeInvalidRequest, "transfer_policy.allowed_countries", "%v", err)
		}
		if !own.Matches(v.Region, v.Country) {
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
func (p *Policy) allowedCountries(ctx context.Context, store Store) (numbering.CountrySet, bool, error) {
	if !p.fromNumbers {
		return p.countries, false, nil
	}
	set, err := p.own.get(ctx, store)
	return set, true, err
}

// ownCountriesCache holds the countries of the deployment's own numbers.
// Reading every number from the store and parsing it cost ~0.3 ms at each
// transfer check (BenchmarkPolicyCheckOwnCountries) for a list that
// changes only when a number is written.
type ownCountriesCache struct {
	mu  sync.Mutex
	gen uint64                // bumped by every invalidation
	set *numbering.CountrySet // nil: not loaded since the last invalidation; read-only once set
}

// get returns the cached countries, loading them when there are none. A
// load that overlaps an invalidation is returned to its caller but not
// kept: it may have read the store before the write that invalidated it.
func (c *ownCountriesCache) get(ctx context.Context, store Store) (numbering.CountrySet, error) {
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
// numbers; the Configuration calls it after every phone number write, whether or
// not the write succeeded (a failed commit may still have been applied).
func (p *Policy) numbersChanged() {
	if p != nil {
		p.own.invalidate()
	}
}

// ownCountries are the countries of the deployment's own phone numbers:
// their regions, or the calling code of a non-geographic number.
func ownCountries(ctx context.Context, store Store) (numbering.CountrySet, error) {
	set := numbering.NewCountrySet()
	if store == nil {
		return set, nil
	}
	err := eachPage(ctx, store.ListPhoneNumbers, func(n PhoneNumber) {
		info, err := ParseE164("phone_number", n.PhoneNumber)
		if err != nil {
			return
		}
		if info.Region == "" || info.Region == "001" {
			set.AddCode(info.Country)
		} else {
			set.AddRegion(info.Region)
		}
	})
	if err != nil {
		return set, Internal("listing phone numbers for the transfer policy", err)
	}
	return set, nil
}
