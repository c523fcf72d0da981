// Package schemas turns the tools' Go input and output types into the JSON
// Schemas that MCP clients see, and holds the generated copies checked in
// beside it so that a change to a type shows up in review as a change to
// its schema.
package schemas
