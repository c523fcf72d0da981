package transport

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAPIKeys(t *testing.T) {
	const k1 = "aaaaaaaaaaaaaaaa1"
	const k2 = "bbbbbbbbbbbbbbbb2"
	const k3 = "cccccccccccccccc3"
	tests := []struct {
		in   string
		want []APIKey
	}{
		{"", nil},
		{" , ,", nil},
		{k1, []APIKey{{Name: "key1", Key: k1, Scope: ScopeWrite}}},
		{"ci:" + k1, []APIKey{{Name: "ci", Key: k1, Scope: ScopeWrite}}},
		{"ci:" + k1 + ":read", []APIKey{{Name: "ci", Key: k1, Scope: ScopeRead}}},
		{"ci:" + k1 + ":WRITE", []APIKey{{Name: "ci", Key: k1, Scope: ScopeWrite}}},
		{
			" ops:" + k1 + " ,," + k2 + ", viewer:" + k3 + ":read ",
			[]APIKey{
				{Name: "ops", Key: k1, Scope: ScopeWrite},
				{Name: "key3", Key: k2, Scope: ScopeWrite}, // named by its position
				{Name: "viewer", Key: k3, Scope: ScopeRead},
			},
		},
	}
	for _, tt := range tests {
		got, err := ParseAPIKeys(tt.in)
		if err != nil {
			t.Errorf("ParseAPIKeys(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAPIKeys(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseAPIKeysErrors(t *testing.T) {
	const k1 = "aaaaaaaaaaaaaaaa1"
	const short = "tooshort-secret"
	tests := []struct {
		in, wantErr string
	}{
		{k1 + "," + k1, "entry 2: duplicate key (same as entry 1)"},
		{"a:" + k1 + ",a:" + "bbbbbbbbbbbbbbbb2", "entry 2: duplicate name"},
		{"a:", "entry 1: empty key"},
		{"a::read", "entry 1: empty key"},
		{",x:" + short, "entry 2: key shorter than 16"},
		{short, "entry 1: key shorter than 16"},
		{"a:" + k1 + ":admin", `entry 1: unknown scope "admin"`},
		{"a:" + k1 + ":", "entry 1: empty scope"},
		{":" + k1, "entry 1: empty key name"},
		{"a b:" + k1, "entry 1: key name may only contain"},
		{"a:" + k1 + ":read:x", "entry 1: too many ':'"},
		{"a:secret\x01secretsecret", "entry 1: key contains"},
	}
	for _, tt := range tests {
		_, err := ParseAPIKeys(tt.in)
		if err == nil {
			t.Errorf("ParseAPIKeys(%q): no error", tt.in)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseAPIKeys(%q) = %q, want it to contain %q", tt.in, err, tt.wantErr)
		}
		for _, secret := range []string{k1, short, "secret"} {
			if strings.Contains(tt.in, secret) && strings.Contains(err.Error(), secret) {
				t.Errorf("ParseAPIKeys(%q) error %q echoes the key", tt.in, err)
			}
		}
	}
}

func TestKeyringMatch(t *testing.T) {
	kr, err := newKeyring(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := kr.match(writeKey); !ok || k.Name != "ops" || k.Scope != ScopeWrite {
		t.Errorf("match(writeKey) = %+v, %v", k, ok)
	}
	if k, ok := kr.match(readKey); !ok || k.Name != "viewer" || k.Scope != ScopeRead {
		t.Errorf("match(readKey) = %+v, %v", k, ok)
	}
	for _, bad := range []string{"", writeKey + "x", writeKey[:len(writeKey)-1], strings.ToUpper(writeKey)} {
		if k, ok := kr.match(bad); ok {
			t.Errorf("match(%q) = %+v", bad, k)
		}
	}
	for _, k := range kr.keys {
		if k.Key != "" {
			t.Errorf("keyring keeps the key %q in clear", k.Name)
		}
	}
	if _, err := newKeyring([]APIKey{{Name: "x", Key: "short"}}); err == nil {
		t.Error("newKeyring accepted a short key")
	}
	if _, err := newKeyring([]APIKey{{Key: writeKey}, {Key: writeKey}}); err == nil {
		t.Error("newKeyring accepted a duplicate key")
	}
	if _, err := newKeyring([]APIKey{{Key: writeKey, Scope: "admin"}}); err == nil {
		t.Error("newKeyring accepted an unknown scope")
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer   abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := bearerToken(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v", tt.in, got, ok)
		}
	}
}

func TestNormalizeOrigin(t *testing.T) {
	good := map[string]string{
		"https://App.Example.com":     "https://app.example.com",
		"https://app.example.com:443": "https://app.example.com",
		"http://app.example.com:80/":  "http://app.example.com",
		"http://[::1]:3000":           "http://[::1]:3000",
		"https://x.example:8443":      "https://x.example:8443",
	}
	for in, want := range good {
		got, err := normalizeOrigin(in)
		if err != nil || got != want {
			t.Errorf("normalizeOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"null", "app.example.com", "ftp://x", "https://x/path", "https://u@x", "https://x?q", "https://"} {
		if got, err := normalizeOrigin(bad); err == nil {
			t.Errorf("normalizeOrigin(%q) = %q, want error", bad, got)
		}
	}
}
