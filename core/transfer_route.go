package core

import (
	"context"
	"fmt"
	"strings"
)

// routeFor says where a transfer to target would be sent; see
// Calls.routeTrunk, which decides it on a live call.
func (c *Configuration) routeFor(ctx context.Context, target, typ string, a *Assistant) (string, string, error) {
	if typ == DestinationSIP {
		return target, "a SIP URI is sent as it is", nil
	}
	if a == nil {
		return "", "depends on the call's phone number: through its transfer_trunk_id, or without one back to the caller's source; give assistant_id to see it", nil
	}
	var numbers []PhoneNumber
	err := eachPage(ctx, c.store.ListPhoneNumbers, func(n PhoneNumber) {
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
	t, err := c.store.GetTrunk(ctx, *first.TransferTrunkID)
	if err != nil {
		return "", "", err
	}
	note := fmt.Sprintf("through trunk %q (%s), the transfer trunk of phone number %s", t.Name, t.ID, first.PhoneNumber)
	if len(trunks) > 1 || withTrunk < len(numbers) {
		note += "; this assistant's other numbers route differently"
	}
	return TrunkURI(target, t), note, nil
}

// routeTrunk picks where a destination is reached: a number goes through
// the phone number's transfer trunk (returned, for a call the server
// places itself), or without one back to where the call came from; a SIP
// URI goes as it is.
func (m *Calls) routeTrunk(ctx context.Context, c Call, dest Destination) (string, Trunk, error) {
	if dest.Type == DestinationSIP {
		return dest.SIPURI, Trunk{}, nil
	}
	trunkID := c.TrunkID
	if trunkID == "" && c.NumberID != "" {
		n, err := m.transferPhoneNumber(ctx, c.NumberID)
		if err != nil && !HasCode(err, CodeNotFound) {
			return "", Trunk{}, err
		}
		if err == nil && n.TransferTrunkID != nil {
			trunkID = *n.TransferTrunkID
		}
	}
	if trunkID != "" {
		t, err := m.transferTrunk(ctx, trunkID)
		if err != nil {
			return "", Trunk{}, err
		}
		return TrunkURI(dest.Number, t), t, nil
	}
	if c.RemoteAddr == "" {
		return "", Trunk{}, FieldError(CodeDestinationNotAllowed, "destination", "no transfer trunk for this call's number")
	}
	return "sip:" + dest.Number + "@" + c.RemoteAddr, Trunk{}, nil
}

// TrunkURI is the SIP URI of a number reached through a trunk.
func TrunkURI(number string, t Trunk) string {
	host := t.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	scheme := "sip"
	if t.Transport == TransportTLS {
		scheme = "sips"
	}
	uri := fmt.Sprintf("%s:%s@%s:%d", scheme, number, host, t.Port)
	if t.Transport == TransportTCP {
		uri += ";transport=tcp"
	}
	return uri
}
