package core

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/nyaruka/phonenumbers"
	"github.com/voicedock/voicedock/core/numbering"
)

// NumberInfo is what libphonenumber says about a valid E.164 number.
type NumberInfo struct {
	E164    string `json:"e164"`
	Region  string `json:"region"`
	Type    string `json:"type"`
	Country int    `json:"country_code"`
}

// ParseE164 checks that s is a phone number in strict E.164 form (a leading
// +, digits only) that libphonenumber knows to be valid. It does not guess:
// "0049..." or "+1 (555) ..." are refused rather than reinterpreted, because
// a transfer to a number the caller did not mean is worse than an error.
func ParseE164(param, s string) (NumberInfo, error) {
	if s == "" {
		return NumberInfo{}, FieldError(CodeMissingField, param, "a phone number is required")
	}
	if !strings.HasPrefix(s, "+") {
		return NumberInfo{}, FieldError(CodeInvalidRequest, param, "phone number %q must be in E.164 form with a leading + and the country code, e.g. +31612345678", clip(s))
	}
	if !numbering.IsE164Shape(s) {
		return NumberInfo{}, FieldError(CodeInvalidRequest, param, "phone number %q must be E.164: + and 2 to 15 digits, no spaces or punctuation", clip(s))
	}
	// "ZZ" is the unknown region: the country comes from the + prefix only.
	num, err := phonenumbers.Parse(s, "ZZ")
	if err != nil {
		return NumberInfo{}, FieldError(CodeInvalidRequest, param, "phone number %q cannot be parsed: %v", s, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return NumberInfo{}, FieldError(CodeInvalidRequest, param, "phone number %q is not a valid number in its country's numbering plan", s)
	}
	return NumberInfo{
		E164:    phonenumbers.Format(num, phonenumbers.E164),
		Region:  phonenumbers.GetRegionCodeForNumber(num),
		Type:    numbering.TypeName(phonenumbers.GetNumberType(num)),
		Country: int(num.GetCountryCode()),
	}, nil
}

// checkDestinationNumber checks the form of a destination number: valid
// E.164. An emergency number written in E.164 (+31112) passes here,
// although libphonenumber does not call it valid, so that the transfer
// policy refuses it for what it is; which types and countries may be
// called is the policy's business too (see Policy).
func checkDestinationNumber(numbers *numberCache, param, s string) error {
	if numbering.IsE164Shape(s) {
		if _, ok := numbering.EmergencyNumber(s); ok {
			return nil
		}
	}
	_, err := numbers.parse(param, s)
	return err
}

// sipURISafe reports whether s holds only characters of RFC 3261's SIP-URI
// grammar (unreserved, escaped, and the user, param and host marks) that
// cannot end a URI inside a header. Anything else, notably CR, LF, space,
// quotes, '<', '>' and ',', could close the URI inside a Refer-To or
// Contact header and smuggle in a header of its own.
func sipURISafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()%&=+$;:/[]@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidateSIPURI checks a sip: or sips: destination and returns it in
// canonical form. URI headers ('?...') and the method parameter are refused:
// they would let a destination choose what request the far side sends.
func ValidateSIPURI(param, s string) (string, error) {
	if s == "" {
		return "", FieldError(CodeMissingField, param, "a SIP URI is required")
	}
	if len(s) > 256 {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI is longer than 256 characters")
	}
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI %q must start with sip: or sips:", clip(s))
	}
	if strings.Contains(s, "?") {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI must not carry URI headers ('?')")
	}
	if !sipURISafe(s) {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI contains characters that are not allowed (spaces, line breaks, quotes, <, >)")
	}
	var uri sip.Uri
	if err := sip.ParseUri(s, &uri); err != nil {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI %q cannot be parsed: %v", clip(s), err)
	}
	// One '@' at most, and none in an empty user part: sipgo reads
	// "sip:@@" as the host "@", which would not survive being written out.
	if strings.Count(s, "@") > 1 || strings.Contains(s, ":@") {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI %q has an empty or ambiguous user part", clip(s))
	}
	if uri.Host == "" {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI %q has no host", clip(s))
	}
	if uri.Password != "" {
		return "", FieldError(CodeInvalidRequest, param, "SIP URI must not contain a password")
	}
	if uri.UriParams != nil {
		if _, ok := uri.UriParams.Get("method"); ok {
			return "", FieldError(CodeInvalidRequest, param, "SIP URI must not set the method parameter")
		}
	}
	uri.Scheme = strings.ToLower(uri.Scheme)
	return uri.String(), nil
}

// ValidateDestination checks a destination's shape and the form of its
// target, and returns it with the target in canonical form. Whether the
// target may be called is the transfer policy's decision
// (Policy.CheckAssistant), which needs the deployment's configuration.
func ValidateDestination(param string, d Destination) (Destination, error) {
	switch d.Type {
	case DestinationNumber:
		if d.SIPURI != "" {
			return d, FieldError(CodeInvalidRequest, param+".sip_uri", "a number destination takes no sip_uri")
		}
		if err := checkDestinationNumber(nil, param+".number", d.Number); err != nil {
			return d, err
		}
	case DestinationSIP:
		if d.Number != "" {
			return d, FieldError(CodeInvalidRequest, param+".number", "a sip destination takes no number")
		}
		uri, err := ValidateSIPURI(param+".sip_uri", d.SIPURI)
		if err != nil {
			return d, err
		}
		d.SIPURI = uri
	case "":
		return d, FieldError(CodeMissingField, param+".type", "destination type is required (number or sip)")
	default:
		return d, FieldError(CodeInvalidRequest, param+".type", "destination type %q is not number or sip", clip(d.Type))
	}
	if strings.TrimSpace(d.Description) == "" {
		return d, FieldError(CodeMissingField, param+".description", "a description is required: it tells the assistant when to use this destination")
	}
	if err := maxLen(param+".description", d.Description, 1000); err != nil {
		return d, err
	}
	if err := maxLen(param+".message", d.Message, 1000); err != nil {
		return d, err
	}
	if err := validateDestinationExtras(param, d); err != nil {
		return d, err
	}
	if err := checkAudioURL(param+".message_audio_url", d.MessageAudioURL); err != nil {
		return d, err
	}
	return d, nil
}

// checkAudioURL accepts an https URL or an absolute path of a WAV file;
// the file itself is read and validated when it is first played.
func checkAudioURL(param, s string) error {
	if s == "" {
		return nil
	}
	if err := maxLen(param, s, 2048); err != nil {
		return err
	}
	if strings.ContainsAny(s, "\x00\r\n") {
		return FieldError(CodeInvalidRequest, param, "must not contain control characters")
	}
	if u, err := url.Parse(s); err == nil && u.Scheme == "https" && u.Host != "" {
		return nil
	}
	if strings.HasPrefix(s, "/") && path.Clean(s) == s {
		return nil
	}
	return FieldError(CodeInvalidRequest, param, "must be an https URL or an absolute file path of a WAV file")
}

// ParseTarget reads a free-form transfer target, as the Call Control API
// takes it: an E.164 number or a SIP URI. It checks the form only; the
// transfer policy decides whether the target may be called.
func ParseTarget(param, s string) (Destination, error) {
	return parseTarget(nil, param, s)
}

// parseTarget is ParseTarget with numbers' parses.
func parseTarget(numbers *numberCache, param, s string) (Destination, error) {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "sip:") || strings.HasPrefix(lower, "sips:") {
		uri, err := ValidateSIPURI(param, s)
		return Destination{Type: DestinationSIP, SIPURI: uri}, err
	}
	if err := checkDestinationNumber(numbers, param, s); err != nil {
		return Destination{}, err
	}
	return Destination{Type: DestinationNumber, Number: s}, nil
}

// clip shortens user input quoted back in an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func maxLen(param, s string, n int) error {
	if len([]rune(s)) > n {
		return FieldError(CodeInvalidRequest, param, "must be at most %d characters (got %d)", n, len([]rune(s)))
	}
	return nil
}

// indexed names an element of a list field, as in tools[0].
func indexed(param string, i int) string { return fmt.Sprintf("%s[%d]", param, i) }
