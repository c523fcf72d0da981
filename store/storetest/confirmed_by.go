package storetest

import (
	"testing"

	"github.com/voicedock/voicedock/core"
)

func testTransferConfirmedBy(t *testing.T, be Backend) {
	s := be.open(t)
	c := CallFixture(t, core.CallInProgress)
	CreateCalls(t, s, c)

	tr := TransferFixture(t, c.ID, core.TransferRequested)
	tr.ConfirmedBy = "elicitation"
	SaveTransfers(t, s, tr)
	MustEqual(t, GetCall(t, s, c.ID).Transfers, []core.Transfer{tr})

	// Unset is NULL, and a replacement clears it.
	tr.ConfirmedBy = ""
	SaveTransfers(t, s, tr)
	MustEqual(t, GetCall(t, s, c.ID).Transfers, []core.Transfer{tr})
	var null bool
	if err := be.DB.QueryRowContext(t.Context(), "SELECT confirmed_by IS NULL FROM transfers WHERE id = $1", tr.ID).Scan(&null); err != nil {
		t.Fatal(err)
	}
	if !null {
		t.Error("an unset confirmed_by is not NULL")
	}
}
