package webhooks

import (
	"errors"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/netguard"
)

// refusedAddress turns a connection netguard refused (the webhook URL
// leads to an internal address) into a final outcome: retrying cannot
// help until the operator opens the address, and the delivery's
// last_error carries the code.
func refusedAddress(err error) (result, bool) {
	var refused *netguard.RefusedError
	if !errors.As(err, &refused) {
		return result{}, false
	}
	return result{
		reason: bound(string(core.CodeAddressNotAllowed) + ": " + refused.Error() + " (VOICEDOCK_WEBHOOK_ALLOWED_CIDRS opens it)"),
		final:  true,
	}, true
}
