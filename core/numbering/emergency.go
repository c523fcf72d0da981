package numbering

import (
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Emergency describes an emergency number written in E.164.
type Emergency struct {
	Region  string
	Country int
	// Short is the number as dialled in its country (112, 911).
	Short string
}

// EmergencyNumber reports whether an E.164-shaped string is an emergency
// number of its country written with the country code (+31112, +1911,
// +44999): a trunk may well route it to the emergency service.
// libphonenumber refuses to call "+1911" an emergency number, so the
// digits after the country code are checked in each region sharing it.
func EmergencyNumber(s string) (Emergency, bool) {
	digits := strings.TrimPrefix(s, "+")
	for l := 1; l <= 3 && l < len(digits); l++ {
		cc, err := strconv.Atoi(digits[:l])
		if err != nil {
			return Emergency{}, false
		}
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		if len(regions) == 0 {
			continue
		}
		national := digits[l:]
		for _, r := range regions {
			if phonenumbers.IsEmergencyNumber(national, r) {
				return Emergency{Region: r, Country: cc, Short: national}, true
			}
		}
		return Emergency{}, false // country codes are prefix-free
	}
	return Emergency{}, false
}

// ShortEmergency reports whether digits dialled without a country code
// would reach an emergency service: 112, 911 and 999 anywhere, and the
// emergency numbers of the given regions. It returns where, in words.
func ShortEmergency(digits string, regions []string) (string, bool) {
	if digits == "112" || digits == "911" || digits == "999" {
		return "a universal emergency number", true
	}
	for _, r := range regions {
		if phonenumbers.IsEmergencyNumber(digits, r) {
			return "the emergency number of " + r, true
		}
	}
	return "", false
}

// SubscriberDigits reads a SIP URI's unescaped user part as a telephone
// subscriber (RFC 3966): its parameters (phone-context, isub) and visual
// separators dropped. ok is false when what is left is not digits with an
// optional leading +: a name, or an extension like desk.
func SubscriberDigits(user string) (digits string, plus, ok bool) {
	if i := strings.IndexByte(user, ';'); i >= 0 {
		user = user[:i]
	}
	d := strings.Map(func(r rune) rune {
		if strings.ContainsRune("-.() ", r) {
			return -1
		}
		return r
	}, user)
	plus = strings.HasPrefix(d, "+")
	rest := strings.TrimPrefix(d, "+")
	if rest == "" || strings.Trim(rest, "0123456789") != "" {
		return "", false, false
	}
	return rest, plus, true
}
