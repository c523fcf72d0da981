// Package server builds the MCP server (on mark3labs/mcp-go) from the tools
// package: it registers each tool with its generated schemas and
// annotations, runs the handlers, and turns their results and errors into
// MCP tool results. It knows nothing of transports.
package server
