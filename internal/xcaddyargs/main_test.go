package main

import (
	"os"
	"strings"
	"testing"
)

// docs/configuration.md and xcaddy.json describe the same build, and the
// documentation lists the plugin's six modules.
func TestDocAndManifestAgree(t *testing.T) {
	doc, err := os.ReadFile("../../" + docPath)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../xcaddy.json")
	if err != nil {
		t.Fatal(err)
	}
	args, err := check(data, string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(args, " "); !strings.HasPrefix(got, "build v2.11.9 --with github.com/caddy-payments/caddy-payments/caddymodule") {
		t.Errorf("build arguments: %s", got)
	}
	ids := moduleIDs(string(doc))
	want := []string{"http.handlers.payments", "http.payments.providers.payabl", "http.payments.providers.razorpay",
		"http.payments.providers.paysage", "http.handlers.payments_sandbox", "admin.api.payments"}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("module IDs from %s: %v, want %v", docPath, ids, want)
	}
}

// Documentation whose command drifted from the manifest is caught, naming both.
func TestDriftIsReported(t *testing.T) {
	manifest := []byte(`{"caddy_version":"v2.11.9","plugins":[{"module_path":"example.com/p/caddymodule"}],"replacements":[{"old":"example.com/p","new":"."}]}`)
	ok := "intro\n\n```sh\nxcaddy build v2.11.9 \\\n  --with example.com/p/caddymodule \\\n  --replace example.com/p=.\n```\n"
	if _, err := check(manifest, ok); err != nil {
		t.Fatalf("matching documentation refused: %v", err)
	}
	for name, doc := range map[string]string{
		"version":     strings.Replace(ok, "v2.11.9", "v2.10.0", 1),
		"replacement": strings.Replace(ok, "example.com/p=.", "example.com/p=../p", 1),
		"no command":  "nothing here",
	} {
		if _, err := check(manifest, doc); err == nil {
			t.Errorf("%s: drift not reported", name)
		}
	}
	if _, err := buildArgs([]byte(`{"caddy_version":"latest","plugins":[{"module_path":"x"}]}`)); err == nil {
		t.Error("a caddy_version that is not a release was accepted")
	}
}
