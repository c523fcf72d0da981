package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// TestREADMEIsTrue keeps the README's tables in step with the code: every
// error code with its meaning, every VOICEDOCK_* variable, every tool.
func TestREADMEIsTrue(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, c := range core.ErrorCodes() {
		row := "| `" + string(c.Code) + "` | " + c.Meaning + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the error row %s", row)
		}
	}
	typ := reflect.TypeOf(config{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		if !strings.Contains(readme, "| `"+name+"`") {
			t.Errorf("README's configuration table lacks %s", name)
		}
	}
	for _, tool := range tools.All(tools.Deps{}) {
		if !strings.Contains(readme, "| `"+tool.Name+"` |") {
			t.Errorf("README's tool table lacks %s", tool.Name)
		}
	}
}
