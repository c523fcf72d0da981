// Package core is the domain of the VoiceDock transfer server: assistants,
// SIP trunks, phone numbers, calls and transfers, the rules that govern
// them, and the interfaces (Store, ...) its adapters implement.
//
// core imports none of the adapters: the store, the SIP user agent and the
// webhook sender depend on core, never the other way round, so the rules
// here are tested on their own and shared by every entry point (MCP tools,
// call control, a future REST API).
//
// Two types carry the behaviour. Configuration holds the configured
// objects (config_*.go); Calls holds the live calls (calls*.go, call_*.go)
// and carries out their transfers (transfer_*.go). The transfer policy
// (policy*.go) decides where a caller may be sent, from the pure rules
// about numbers and hosts in the leaf package core/numbering. Events of
// both go out on one Bus (events.go).
package core
