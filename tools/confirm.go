package tools

import (
	"context"

	"github.com/voicedock/voicedock/core"
)

// Confirmer asks the human behind one request to confirm an ad-hoc
// transfer destination (an MCP elicitation). Via names how they are asked
// ("elicitation"), recorded with the transfer.
type Confirmer struct {
	Ask core.ConfirmFunc
	Via string
}

type confirmKey struct{}

// WithConfirm returns ctx carrying the confirmer of one request; a request
// whose client cannot be asked carries none, and the transfer policy
// decides alone.
func WithConfirm(ctx context.Context, c Confirmer) context.Context {
	return context.WithValue(ctx, confirmKey{}, c)
}

func confirmFrom(ctx context.Context) Confirmer {
	c, _ := ctx.Value(confirmKey{}).(Confirmer)
	return c
}
