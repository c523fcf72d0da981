package numbering_test

import (
	"slices"
	"testing"

	"github.com/voicedock/voicedock/core/numbering"
)

func TestEmergencyNumber(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ok     bool
		region string
		short  string
	}{
		{"+31112", true, "NL", "112"},
		{"+1911", true, "US", "911"},
		{"+44999", true, "GB", "999"},
		{"+31612345678", false, "", ""},
		{"+999112", false, "", ""}, // no such calling code
	} {
		e, ok := numbering.EmergencyNumber(tc.in)
		if ok != tc.ok || e.Short != tc.short || e.Region != tc.region {
			t.Errorf("EmergencyNumber(%q) = %+v, %v; want %s %s, %v", tc.in, e, ok, tc.region, tc.short, tc.ok)
		}
	}
}

func TestShortEmergency(t *testing.T) {
	if _, ok := numbering.ShortEmergency("112", nil); !ok {
		t.Error("112 is an emergency number anywhere")
	}
	if _, ok := numbering.ShortEmergency("110", nil); ok {
		t.Error("110 without a region is not known as an emergency number")
	}
	if where, ok := numbering.ShortEmergency("110", []string{"DE"}); !ok || where != "the emergency number of DE" {
		t.Errorf("110 in DE: %q, %v", where, ok)
	}
}

func TestSubscriberDigits(t *testing.T) {
	for _, tc := range []struct {
		in         string
		digits     string
		plus, isNr bool
	}{
		{"+31 (20) 123-4567", "31201234567", true, true},
		{"1234;phone-context=example.com", "1234", false, true},
		{"desk", "", false, false},
		{"+", "", false, false},
	} {
		d, plus, ok := numbering.SubscriberDigits(tc.in)
		if d != tc.digits || plus != tc.plus || ok != tc.isNr {
			t.Errorf("SubscriberDigits(%q) = %q, %v, %v", tc.in, d, plus, ok)
		}
	}
}

func TestCountries(t *testing.T) {
	set, err := numbering.ParseCountries([]string{"nl", "+1", " "}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !set.Matches("NL", 31) || !set.Matches("CA", 1) || set.Matches("DE", 49) {
		t.Errorf("set %s matches wrongly", set)
	}
	if got := set.String(); got != "NL, +1" {
		t.Errorf("String() = %q", got)
	}
	if !slices.Contains(set.Regions(), "US") {
		t.Errorf("Regions() lacks US: %v", set.Regions())
	}
	if _, err := numbering.ParseCountries([]string{"*"}, false); err == nil {
		t.Error("* accepted where every country is not allowed")
	}
	if c, err := numbering.ParseCountry("uk"); err != nil || c != "GB" {
		t.Errorf("ParseCountry(uk) = %q, %v", c, err)
	}
}

func TestHosts(t *testing.T) {
	set, err := numbering.ParseHosts([]string{"*.example.com", "PBX.test", "::ffff:10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"a.example.com": true, "example.com": false, "pbx.test": true, "10.0.0.1": true, "10.0.0.2": false,
	} {
		if got := set.Matches(numbering.NormHost(host)); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"*.10.0.0.1", "http://x", "*.*.a"} {
		if _, err := numbering.ParseHosts([]string{bad}); err == nil {
			t.Errorf("ParseHosts(%q) accepted", bad)
		}
	}
}

func TestTypes(t *testing.T) {
	if got := numbering.NormalizeType(" Personal-Number "); got != "personal" {
		t.Errorf("NormalizeType = %q", got)
	}
	for _, d := range numbering.DefaultDeniedTypes() {
		if !slices.Contains(numbering.Types(), d) {
			t.Errorf("default denied type %q is not a known type", d)
		}
	}
}
