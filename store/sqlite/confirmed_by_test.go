package sqlite

import (
	"testing"

	"github.com/voicedock/voicedock/core"
)

func TestTransferConfirmedBy(t *testing.T) {
	s, _ := openTemp(t)
	c := callFixture(t, core.CallInProgress)
	createCalls(t, s, c)

	tr := transferFixture(t, c.ID, core.TransferRequested)
	tr.ConfirmedBy = "elicitation"
	saveTransfers(t, s, tr)
	mustEqual(t, getCall(t, s, c.ID).Transfers, []core.Transfer{tr})

	// Unset is NULL, and a replacement clears it.
	tr.ConfirmedBy = ""
	saveTransfers(t, s, tr)
	mustEqual(t, getCall(t, s, c.ID).Transfers, []core.Transfer{tr})
	var null bool
	if err := s.read.QueryRowContext(t.Context(), "SELECT confirmed_by IS NULL FROM transfers WHERE id = ?", tr.ID).Scan(&null); err != nil {
		t.Fatal(err)
	}
	if !null {
		t.Error("an unset confirmed_by is not NULL")
	}
}
