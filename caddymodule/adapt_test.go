package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestCaddyfileAdapt checks every ../testdata/caddyfile_adapt/*.caddyfiletest:
// a Caddyfile, a line of ten dashes, then either the expected JSON (pretty,
// tab-indented, as `caddy adapt --pretty` prints it) or the start of the
// expected error. UPDATE_GOLDEN=1 rewrites the JSON of passing cases.
func TestCaddyfileAdapt(t *testing.T) {
	files, _ := filepath.Glob("../testdata/caddyfile_adapt/*.caddyfiletest")
	if len(files) == 0 {
		t.Fatal("no adapt goldens found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatal("no ---------- separator")
			}
			want = strings.TrimSpace(want)
			input += "\n"
			adapter := caddyconfig.GetAdapter("caddyfile")
			out, warnings, err := adapter.Adapt([]byte(input), map[string]any{"filename": "Caddyfile"})
			if strings.HasPrefix(want, "error:") {
				wantErr := strings.TrimSpace(strings.TrimPrefix(want, "error:"))
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s:%d: %s", w.File, w.Line, w.Message)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			got := pretty.String()
			if os.Getenv("UPDATE_GOLDEN") == "1" {
				_ = os.WriteFile(f, []byte(input+"----------\n"+got+"\n"), 0o644)
				return
			}
			if got != want {
				t.Fatalf("adapted JSON differs.\n--- got ---\n%s\n--- want ---\n%s", got, want)
			}
		})
	}
}

// TestCaddyfilesAreFormatted keeps every Caddyfile in the repository
// `caddy fmt`-clean.
func TestCaddyfilesAreFormatted(t *testing.T) {
	var files []string
	for _, pat := range []string{"../Caddyfile*", "../testdata/caddyfile_adapt/*.caddyfiletest", "../examples/*/Caddyfile"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		input, _, _ := strings.Cut(string(raw), "\n----------\n")
		if !strings.HasSuffix(input, "\n") {
			input += "\n"
		}
		if got := string(caddyfile.Format([]byte(input))); got != input {
			t.Errorf("%s is not caddy fmt-clean; formatted it reads:\n%s", f, got)
		}
	}
}

func TestCaddyfileErrors(t *testing.T) {
	cases := map[string]string{
		"unknown option":                  "payments {\n\tbogus 1\n}",
		"duplicate option":                "payments {\n\tpublic_url https://a.example\n\tpublic_url https://b.example\n}",
		"duplicate provider":              "payments {\n\tprovider a fake {\n\t\tendpoint http://x\n\t\tsecret s\n\t}\n\tprovider a fake {\n\t\tendpoint http://x\n\t\tsecret s\n\t}\n}",
		"unknown type":                    "payments {\n\tprovider a stripe {\n\t}\n}",
		"bad name":                        "payments {\n\tprovider Bad.Name fake {\n\t}\n}",
		"bad max_body":                    "payments {\n\tmax_body lots\n}",
		"bad timeout":                     "payments {\n\ttimeout -1s\n}",
		"api_token no args":               "payments {\n\tapi_token\n}",
		"forward_path":                    "payments {\n\tforward_path events\n}",
		"argument on payment":             "payments extra {\n}",
		"redis seeds without cluster":     "payments {\n\tstorage redis a:1 b:2\n}",
		"redis cluster with an argument":  "payments {\n\tstorage redis a:1 {\n\t\tcluster yes\n\t}\n}",
		"redis replicas negative":         "payments {\n\tstorage redis a:1 {\n\t\treplicas -1\n\t}\n}",
		"redis replicas no number":        "payments {\n\tstorage redis a:1 {\n\t\treplicas some\n\t}\n}",
		"redis replicas bad timeout":      "payments {\n\tstorage redis a:1 {\n\t\treplicas 1 forever\n\t}\n}",
		"redis replicas timeout too long": "payments {\n\tstorage redis a:1 {\n\t\treplicas 1 30s\n\t}\n}",
		"redis replicas three args":       "payments {\n\tstorage redis a:1 {\n\t\treplicas 1 1s 2\n\t}\n}",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
				t.Fatalf("accepted:\n%s", in)
			}
		})
	}
}
