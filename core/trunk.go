package core

import "time"

// Trunk is a stored SIP trunk.
type Trunk struct {
	ID string `json:"id" jsonschema:"required,description=Opaque time-ordered id (UUIDv7)"`
	TrunkConfig
	PasswordSet bool      `json:"password_set,omitempty" jsonschema:"description=Read-only: true when a password is stored"`
	CreatedAt   time.Time `json:"created_at" jsonschema:"required,description=Read-only creation time (UTC)"`
	UpdatedAt   time.Time `json:"updated_at" jsonschema:"required,description=Read-only time of the last change (UTC)"`
	// Health is the last OPTIONS probe's result, kept in memory; absent
	// before the first probe.
	Health *TrunkHealth `json:"health,omitempty" jsonschema:"description=Read-only: the last SIP OPTIONS probe of the trunk (background probing or test_trunk); absent before the first"`
}

// TrunkConfig is a SIP trunk's settings: the PBX, carrier or contact centre
// that transfers and outbound calls go through.
type TrunkConfig struct {
	Name      string `json:"name" jsonschema:"required,description=Display name,minLength=1,maxLength=100"`
	Host      string `json:"host" jsonschema:"required,description=SIP server hostname or IP address,minLength=1,maxLength=253"`
	Port      int    `json:"port,omitempty" jsonschema:"description=SIP port,minimum=1,maximum=65535,default=5060"`
	Transport string `json:"transport,omitempty" jsonschema:"description=SIP transport,enum=udp,enum=tcp,enum=tls,default=udp"`
	Username  string `json:"username,omitempty" jsonschema:"description=Digest auth user name,maxLength=128"`
	Password  string `json:"password,omitempty" jsonschema:"description=Write-only digest auth password; encrypted at rest and never returned,maxLength=256"`
	// InboundAuth is how calls from this trunk are recognised: by source
	// address (ip), or by digest credentials (the trunk's username and
	// password) when the called number transfers through this trunk.
	InboundAuth string `json:"inbound_auth,omitempty" jsonschema:"description=How inbound calls from this trunk are authenticated: ip (the INVITE comes from the trunk's host) or digest (the INVITE to a number transferring through this trunk answers a 401 challenge with this trunk's username and password; any source),enum=ip,enum=digest,default=ip"`
}

// How a trunk's inbound calls are authenticated.
const (
	InboundAuthIP     = "ip"
	InboundAuthDigest = "digest"
)

// SIP transports a trunk may use.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// Redacted returns the trunk as clients may see it: no password.
func (t Trunk) Redacted() Trunk {
	t.PasswordSet = t.Password != ""
	t.Password = ""
	return t
}
