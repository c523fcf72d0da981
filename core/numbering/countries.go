package numbering

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// CountrySet is a set of regions and calling codes, or every country.
// The zero value is empty.
type CountrySet struct {
	any     bool
	regions map[string]bool
	codes   map[int]bool
}

// NewCountrySet returns an empty set to Add to.
func NewCountrySet() CountrySet {
	return CountrySet{regions: map[string]bool{}, codes: map[int]bool{}}
}

// AddRegion adds an ISO 3166 region code.
func (c CountrySet) AddRegion(region string) { c.regions[region] = true }

// AddCode adds every region sharing a calling code.
func (c CountrySet) AddCode(code int) { c.codes[code] = true }

// Empty reports whether the set allows nothing.
func (c CountrySet) Empty() bool { return !c.any && len(c.regions) == 0 && len(c.codes) == 0 }

// Matches reports whether a number of the region, with the calling code,
// is in the set.
func (c CountrySet) Matches(region string, code int) bool {
	return c.any || c.regions[region] || c.codes[code]
}

// Regions is every region the set names, directly or by calling code.
func (c CountrySet) Regions() []string {
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

func (c CountrySet) String() string {
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

// ParseCountries reads a list of countries (see ParseCountry); with
// allowAny, "*" is every country. Blank entries are skipped.
func ParseCountries(list []string, allowAny bool) (CountrySet, error) {
	set := NewCountrySet()
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

// RegionName names a number's country for messages.
func RegionName(region string, code int) string {
	if region == "" || region == "001" || region == "ZZ" {
		return fmt.Sprintf("+%d (non-geographic)", code)
	}
	return region
}
