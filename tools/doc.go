// Package tools defines the MCP tools of the server: for each, its name,
// description, annotations, Go input and output types (from which the
// schemas are generated) and a thin handler that decodes the input, calls
// one core method and shapes the output. Rules live in core, not here.
package tools
