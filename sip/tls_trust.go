package sip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/voicedock/voicedock/core"
)

// Outbound TLS (calls to a trunk with transport tls, and their probes)
// verifies the trunk's certificate: a chain to a trusted root, for the
// trunk's host name or address (sipgo sets ServerName to the host
// dialled). The roots are the system's, plus Config.TLSCAFile for trunks
// with a private CA or a self-signed certificate. A refused certificate is
// CodeTLSCertificate, saying why, rather than a generic failure.

// clientTLSConfig is the TLS configuration of outbound connections.
func clientTLSConfig(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("sip: trusted CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("sip: trusted CA file %s holds no PEM certificate", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}

// certificateError is the error for a dial that failed because the far
// side's certificate was refused, or nil when err is something else.
func certificateError(err error) *core.Error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	why := ""
	switch {
	case errors.As(err, &unknown):
		why = "it is not signed by a trusted authority (self-signed or a private CA: add the CA with VOICEDOCK_SIP_TLS_CA)"
	case errors.As(err, &hostname):
		why = "it is not valid for " + hostname.Host
	case errors.As(err, &invalid):
		why = "it is expired, not yet valid or not for a server: " + invalid.Error()
	case errors.As(err, &verify):
		why = verify.Err.Error()
	default:
		return nil
	}
	return &core.Error{Code: core.CodeTLSCertificate, Message: "the trunk's TLS certificate was refused: " + why, SIPStatus: 503}
}
