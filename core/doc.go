// Package core is the domain of the VoiceDock transfer server: assistants,
// SIP trunks, phone numbers, calls and transfers, the rules that govern
// them, and the interfaces (Store, ...) its adapters implement.
//
// core imports none of the adapters: the store, the SIP user agent and the
// webhook sender depend on core, never the other way round, so the rules
// here are tested on their own and shared by every entry point (MCP tools,
// call control, a future REST API).
package core
