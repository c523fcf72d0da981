package core_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/schemas"
)

// Every event an assistant may subscribe to can be listed as a delivery:
// list_webhook_deliveries' output schema names each one, or a client that
// validates results (the official SDKs do) refuses the whole list once a
// conversation-update or dtmf delivery is in it.
func TestDeliveryEventTypesAreInTheSchema(t *testing.T) {
	raw, err := schemas.Reflect(core.WebhookDelivery{})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties struct {
			EventType struct {
				Enum []string `json:"enum"`
			} `json:"event_type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	for _, e := range core.WebhookEvents() {
		if !slices.Contains(s.Properties.EventType.Enum, e) {
			t.Errorf("event_type enum %v lacks %q", s.Properties.EventType.Enum, e)
		}
	}
}
