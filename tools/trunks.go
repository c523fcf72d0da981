package tools

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/invopop/jsonschema"

	"github.com/voicedock/voicedock/core"
)

// TrunkOutput wraps one trunk.
type TrunkOutput struct {
	Trunk   core.Trunk `json:"trunk" jsonschema:"required"`
	Created bool       `json:"created,omitempty" jsonschema:"description=True when configure_trunk created the trunk rather than updating it"`
}

// TrunkListOutput is a page of trunks.
type TrunkListOutput struct {
	Trunks     []core.Trunk `json:"trunks" jsonschema:"required"`
	Pagination Pagination   `json:"pagination" jsonschema:"required"`
}

// ConfigureTrunkInput creates a trunk, or replaces the settings of the one
// named by id.
type ConfigureTrunkInput struct {
	ID string `json:"id,omitempty" jsonschema:"description=Set to update that trunk; omit to create one,maxLength=128"`
	core.TrunkConfig
	ClearPassword bool `json:"clear_password,omitempty" jsonschema:"description=On update: remove the stored password (an omitted password keeps it)"`
	// Aliases from the newer VoiceDock SDK, so its configurations work too.
	Address      string `json:"address,omitempty" jsonschema:"description=Alias of host (VoiceDock SDK); host or host:port,maxLength=260"`
	AuthUsername string `json:"auth_username,omitempty" jsonschema:"description=Alias of username (VoiceDock SDK),maxLength=128"`
	AuthPassword string `json:"auth_password,omitempty" jsonschema:"description=Alias of password (VoiceDock SDK); write-only,maxLength=256"`
}

// JSONSchemaExtend: host may come as address, so only name is required.
func (ConfigureTrunkInput) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Required = []string{"name"}
}

// config merges the aliases into the documented fields; sending both
// spellings of one field with different values is an error.
func (in ConfigureTrunkInput) config() (core.TrunkConfig, error) {
	cfg := in.TrunkConfig
	if in.Address != "" {
		host, port := in.Address, 0
		if h, p, err := net.SplitHostPort(in.Address); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				return cfg, core.FieldError(core.CodeInvalidRequest, "address", "port in address %q is not a number", in.Address)
			}
			host, port = h, n
		}
		if cfg.Host != "" && cfg.Host != host {
			return cfg, core.FieldError(core.CodeInvalidRequest, "address", "address and host disagree; send one")
		}
		cfg.Host = host
		if port != 0 {
			if cfg.Port != 0 && cfg.Port != port {
				return cfg, core.FieldError(core.CodeInvalidRequest, "address", "the port in address and port disagree; send one")
			}
			cfg.Port = port
		}
	}
	for _, alias := range []struct {
		param string
		value string
		field *string
	}{{"auth_username", in.AuthUsername, &cfg.Username}, {"auth_password", in.AuthPassword, &cfg.Password}} {
		if alias.value == "" {
			continue
		}
		if *alias.field != "" && *alias.field != alias.value {
			return cfg, core.FieldError(core.CodeInvalidRequest, alias.param, "%s and its documented spelling disagree; send one", alias.param)
		}
		*alias.field = alias.value
	}
	return cfg, nil
}

func trunkTools(svc *core.Configuration) []Tool {
	return []Tool{
		define("configure_trunk", "Configure SIP trunk",
			"Create a SIP trunk (your PBX, carrier or contact centre: host, port, transport udp/tcp/tls, digest username and password), "+
				"or replace the settings of the trunk whose id is given. The password is encrypted at rest and never returned; on update an omitted password keeps the stored one.",
			Hints{Idempotent: true},
			func(ctx context.Context, in ConfigureTrunkInput) (TrunkOutput, string, error) {
				cfg, err := in.config()
				if err != nil {
					return TrunkOutput{}, "", err
				}
				t, created, err := svc.ConfigureTrunk(ctx, in.ID, cfg, in.ClearPassword)
				if err != nil {
					return TrunkOutput{}, "", err
				}
				verb := "Updated"
				if created {
					verb = "Created"
				}
				return TrunkOutput{t, created}, fmt.Sprintf("%s trunk %q (%s) at %s:%d over %s.", verb, t.Name, t.ID, t.Host, t.Port, t.Transport), nil
			}),
		define("get_trunk", "Get SIP trunk",
			"Get one SIP trunk by id (never its password; password_set says whether one is stored).",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in GetInput) (TrunkOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return TrunkOutput{}, "", err
				}
				t, err := svc.GetTrunk(ctx, in.ID)
				if err != nil {
					return TrunkOutput{}, "", err
				}
				return TrunkOutput{Trunk: t}, fmt.Sprintf("Trunk %q (%s) at %s:%d over %s.", t.Name, t.ID, t.Host, t.Port, t.Transport), nil
			}),
		define("list_trunks", "List SIP trunks",
			"List SIP trunks, oldest first, a page at a time.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in ListInput) (TrunkListOutput, string, error) {
				list, total, err := svc.ListTrunks(ctx, in.page())
				if err != nil {
					return TrunkListOutput{}, "", err
				}
				if list == nil {
					list = []core.Trunk{}
				}
				return TrunkListOutput{list, pagination(in, total)}, fmt.Sprintf("%d of %d trunks.", len(list), total), nil
			}),
		define("delete_trunk", "Delete SIP trunk",
			"Delete a SIP trunk. While a phone number routes transfers through it this is a conflict, unless force is set: then those numbers lose their transfer trunk.",
			Hints{Destructive: true},
			func(ctx context.Context, in DeleteInput) (DeleteOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return DeleteOutput{}, "", err
				}
				if err := svc.DeleteTrunk(ctx, in.ID, in.Force); err != nil {
					return DeleteOutput{}, "", err
				}
				return DeleteOutput{true, in.ID}, fmt.Sprintf("Deleted trunk %s.", in.ID), nil
			}),
	}
}
