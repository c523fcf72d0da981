package numbering

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Types are the number type names the policy knows, in libphonenumber's
// order.
func Types() []string {
	return []string{"fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal", "pager", "uan", "voicemail", "unknown"}
}

// DefaultDeniedTypes are the number types refused when the deployment
// names none: calls to them cost money per minute, or reach someone other
// than the number suggests.
func DefaultDeniedTypes() []string {
	return []string{"premium_rate", "shared_cost", "uan", "personal", "pager", "unknown"}
}

// NormalizeType reads a type name as a person writes it (Premium-Rate,
// personal_number) in the form Types lists; "" when s is blank. Whether
// the result is a known type is the caller's check.
func NormalizeType(s string) string {
	t := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	if t == "personal_number" {
		return "personal"
	}
	return t
}

// TypeName gives libphonenumber's number types in the words the policy
// and the README use.
func TypeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return "fixed_line"
	case phonenumbers.MOBILE:
		return "mobile"
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return "fixed_line_or_mobile"
	case phonenumbers.TOLL_FREE:
		return "toll_free"
	case phonenumbers.PREMIUM_RATE:
		return "premium_rate"
	case phonenumbers.SHARED_COST:
		return "shared_cost"
	case phonenumbers.VOIP:
		return "voip"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal"
	case phonenumbers.PAGER:
		return "pager"
	case phonenumbers.UAN:
		return "uan"
	case phonenumbers.VOICEMAIL:
		return "voicemail"
	default:
		return "unknown"
	}
}

// TypeWords says a number type in words, for messages.
func TypeWords(t string) string {
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
