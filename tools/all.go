package tools

import "github.com/voicedock/voicedock/core"

// Deps are what the tools call into.
type Deps struct {
	Config     *core.Configuration
	Calls      *core.Calls
	Deliveries *core.Deliveries
	// Trunks probes trunks (test_trunk); Stats computes transfer_stats.
	Trunks *core.TrunkMonitor
	Stats  *core.Statistics
	// Conversations is the calls' language model loop; nil when no model
	// endpoint is configured.
	Conversations *core.Conversations
}

// All returns every tool, in the order tools/list shows them. Handlers
// may be built with zero Deps to generate schemas; they are not called then.
func All(d Deps) []Tool {
	var all []Tool
	all = append(all, assistantTools(d.Config)...)
	all = append(all, trunkTools(d.Config)...)
	all = append(all, numberTools(d.Config)...)
	all = append(all, callTools(d.Calls)...)
	all = append(all, speakTools(d.Calls, d.Conversations)...)
	all = append(all, conversationTools(d.Calls)...)
	all = append(all, policyTools(d.Config)...)
	all = append(all, webhookTools(d.Deliveries)...)
	all = append(all, checkTools(d)...)
	return all
}
