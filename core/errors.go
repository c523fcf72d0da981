package core

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Clients branch on it, so a
// code is never renamed; the table in the README lists every one.
type Code string

// The error codes, one table for every entry point.
const (
	CodeInvalidRequest        Code = "invalid_request"
	CodeMissingField          Code = "missing_field"
	CodeNotFound              Code = "not_found"
	CodeConflict              Code = "conflict"
	CodeDestinationNotAllowed Code = "destination_not_allowed"
	CodeCallerIDNotAllowed    Code = "caller_id_not_allowed"
	CodeCallNotActive         Code = "call_not_active"
	CodeTransferFailed        Code = "transfer_failed"
	CodeUnauthorized          Code = "unauthorized"
	CodeForbidden             Code = "forbidden"
	CodeRateLimitExceeded     Code = "rate_limit_exceeded"
	CodeOverloaded            Code = "overloaded"
	CodeUnsupported           Code = "unsupported"
	CodeUnavailable           Code = "unavailable"
	CodeAddressNotAllowed     Code = "address_not_allowed"
	CodeTLSCertificate        Code = "tls_certificate_invalid"
	CodeInternal              Code = "internal"
)

// CodeInfo is one row of the error table.
type CodeInfo struct {
	Code    Code
	Meaning string
}

// ErrorCodes lists every code with what it means, in the order the README
// shows them. A test keeps the README's table and this one in step.
func ErrorCodes() []CodeInfo {
	return []CodeInfo{
		{CodeInvalidRequest, "the input is malformed or breaks a validation rule (`param` names the field)"},
		{CodeMissingField, "a required field is absent (`param` names it)"},
		{CodeNotFound, "no object with that id"},
		{CodeConflict, "the change clashes with the current state: a duplicate phone number, a trunk or assistant still in use, a call already transferring"},
		{CodeDestinationNotAllowed, "the transfer destination is refused by policy (not configured, premium-rate, ...); nothing was dialled"},
		{CodeCallerIDNotAllowed, "a transfer's `caller_id` is a number that is neither one of our phone numbers nor the caller's own; nothing was dialled"},
		{CodeCallNotActive, "the call is not live (ended, failed or not yet answered)"},
		{CodeTransferFailed, "the transfer was attempted and failed; the caller is still connected"},
		{CodeUnauthorized, "no valid API key or OAuth access token"},
		{CodeForbidden, "the API key may not do this"},
		{CodeRateLimitExceeded, "too many requests; retry after `retry_after` seconds"},
		{CodeOverloaded, "the server is at capacity (calls held or transfers in flight), or its store did not take the transfer within 10 s or has not yet taken that call's earlier changes; nothing was started and the call is untouched; retry after `retry_after` seconds"},
		{CodeUnsupported, "the server does not support this operation"},
		{CodeUnavailable, "a dependency (SIP, the store) is temporarily unavailable; retry"},
		{CodeTLSCertificate, "a trunk called over TLS presented a certificate that was refused (untrusted, for another host, expired); the message says which. `VOICEDOCK_SIP_TLS_CA` adds a trusted CA"},
		{CodeAddressNotAllowed, "a URL from a tool (message audio, webhook) leads to an internal address (loopback, private, link-local, ...) the server may not reach; see `VOICEDOCK_FETCH_ALLOWED_CIDRS` and `VOICEDOCK_WEBHOOK_ALLOWED_CIDRS`"},
		{CodeInternal, "an unexpected server error; the log has the details"},
	}
}

// Error is a domain error with a stable code. Every error a tool returns is,
// or wraps, an *Error; anything else is reported as CodeInternal.
type Error struct {
	Code    Code
	Message string
	// Param names the offending input field, in the caller's spelling.
	Param string
	// RetryAfter is set on CodeRateLimitExceeded and CodeOverloaded, in
	// whole seconds.
	RetryAfter int
	// SIPStatus is the far side's final SIP status, when one explains it.
	SIPStatus int
	err       error
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an *Error naming the offending field.
func FieldError(code Code, param, format string, args ...any) *Error {
	return &Error{Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error so that its details reach the log but
// not the client.
func Internal(op string, err error) *Error {
	return &Error{Code: CodeInternal, Message: "internal error while " + op, err: err}
}

// NotFound is the error for a missing object of the given kind.
func NotFound(kind, id string) *Error {
	return &Error{Code: CodeNotFound, Param: "id", Message: fmt.Sprintf("%s %q not found", kind, id)}
}

// AsError returns err as an *Error, wrapping anything else as internal.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal("handling the request", err)
}

// HasCode reports whether err is an *Error with the given code.
func HasCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
