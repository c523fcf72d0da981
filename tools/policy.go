package tools

import (
	"context"
	"fmt"

	"github.com/voicedock/voicedock/core"
)

// CheckDestinationInput names a destination and, optionally, the assistant
// whose calls would be transferred.
type CheckDestinationInput struct {
	Destination string `json:"destination" jsonschema:"required,description=E.164 number (+31612345678) or sip:/sips: URI,minLength=1,maxLength=256"`
	AssistantID string `json:"assistant_id,omitempty" jsonschema:"description=Check for a call answered by this assistant: its destinations\\, its transfer_policy and the ad-hoc rule apply. Omit for the deployment's rules only,maxLength=128"`
}

// CheckDestinationOutput is the transfer policy's answer.
type CheckDestinationOutput struct {
	Allowed     bool   `json:"allowed" jsonschema:"required,description=Whether a transfer to the destination would be allowed now"`
	Rule        string `json:"rule" jsonschema:"required,description=The rule that decided,enum=emergency_number,enum=denied_types,enum=allowed_countries,enum=assistant_countries,enum=sip_allowed_domains,enum=sip_number_form,enum=adhoc_transfers,enum=configured_destination,enum=deployment_rules"`
	Reason      string `json:"reason" jsonschema:"required,description=Why\\, naming the setting behind the rule"`
	Destination string `json:"destination" jsonschema:"required,description=The destination in canonical form"`
	Type        string `json:"type" jsonschema:"required,description=number or sip,enum=number,enum=sip"`
	AssistantID string `json:"assistant_id,omitempty" jsonschema:"description=The assistant checked for"`
	E164        string `json:"e164,omitempty" jsonschema:"description=The number in E.164 (for a SIP URI: the number in its user part)"`
	Region      string `json:"region,omitempty" jsonschema:"description=ISO 3166 region of the number (001 for non-geographic numbers)"`
	CountryCode int    `json:"country_code,omitempty" jsonschema:"description=Country calling code of the number"`
	NumberType  string `json:"number_type,omitempty" jsonschema:"description=libphonenumber's type of the number\\, or emergency,enum=fixed_line,enum=mobile,enum=fixed_line_or_mobile,enum=toll_free,enum=premium_rate,enum=shared_cost,enum=voip,enum=personal,enum=pager,enum=uan,enum=voicemail,enum=unknown,enum=emergency"`
	SIPHost     string `json:"sip_host,omitempty" jsonschema:"description=Host of a SIP URI destination"`
	Route       string `json:"route,omitempty" jsonschema:"description=The Refer-To URI a transfer would carry: for a number through the transfer trunk of a phone number using the assistant; for a SIP URI the URI itself"`
	RouteNote   string `json:"route_note" jsonschema:"required,description=How the route was found\\, or why it cannot be told without a call"`
	// Transfer shows the destination's caller id, ring timeout, on_failure
	// and hold audio when it is one of the assistant's.
	Transfer *core.TransferSettings `json:"transfer,omitempty" jsonschema:"description=With assistant_id and one of its configured destinations: how the transfer would be made (mode\\, caller id\\, ring timeout\\, on_failure\\, hold audio)"`
	// Consult is set when the assistant's destination does more on the
	// human's call than a plain warm or bridge transfer.
	Consult *core.ConsultSteps `json:"consult,omitempty" jsonschema:"description=With assistant_id\\, for a warm or bridge destination of the assistant with an extension\\, wait_for_human_speech\\, require_accept or voicemail_action: what the server does on its call to the human before the caller is put through"`
}

func policyTools(svc *core.Configuration) []Tool {
	return []Tool{
		define("check_destination", "Check transfer destination",
			"Check whether a transfer to a destination (E.164 number or sip: URI) would be allowed, without dialling anything: "+
				"the normalised number, its region, country code and type (premium-rate, mobile, ...), the rule that decided "+
				"(emergency numbers, denied number types, allowed countries, allowed SIP domains, the assistant's destinations and transfer_policy, ad-hoc transfers), "+
				"and the route the REFER would take. Give assistant_id to check for that assistant's calls.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in CheckDestinationInput) (CheckDestinationOutput, string, error) {
				if in.AssistantID != "" {
					if err := requireID("assistant_id", in.AssistantID); err != nil {
						return CheckDestinationOutput{}, "", err
					}
				}
				c, err := svc.CheckDestination(ctx, in.Destination, in.AssistantID)
				if err != nil {
					return CheckDestinationOutput{}, "", err
				}
				out := checkOutput(c)
				verdict := "Allowed"
				if !c.Allowed {
					verdict = "Refused"
				}
				return out, fmt.Sprintf("%s: %s (rule %s).", verdict, c.Reason, c.Rule), nil
			}),
	}
}
