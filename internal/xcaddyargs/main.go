// Command xcaddyargs prints the xcaddy build arguments that xcaddy.json
// records, after checking that the "Build a Caddy with the plugin" section
// of docs/configuration.md gives the same build, and (with -modules) the
// plugin's module IDs from that file's module table, one per line.
// .ci/xcaddy-check uses it to build Caddy with xcaddy exactly as
// docs/configuration.md and xcaddy.json say.
//
// Usage (from the repository root):
//
//	go run ./internal/xcaddyargs            # build v2.11.9 --with … --replace …
//	go run ./internal/xcaddyargs -modules   # http.handlers.payments …
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// manifest is the part of xcaddy.json (xcaddy's Builder shape) a build needs.
type manifest struct {
	CaddyVersion string `json:"caddy_version"`
	Plugins      []struct {
		ModulePath string `json:"module_path"`
		Version    string `json:"version"`
	} `json:"plugins"`
	Replacements []struct {
		Old string `json:"old"`
		New string `json:"new"`
	} `json:"replacements"`
}

// buildArgs turns the manifest into xcaddy's command line, after "xcaddy".
func buildArgs(data []byte) ([]string, error) {
	var m manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("reading xcaddy.json: %w", err)
	}
	if !regexp.MustCompile(`^v2\.\d+\.\d+$`).MatchString(m.CaddyVersion) {
		return nil, fmt.Errorf("xcaddy.json: caddy_version %q is not a v2.x.y release", m.CaddyVersion)
	}
	if len(m.Plugins) == 0 {
		return nil, errors.New("xcaddy.json: no plugins")
	}
	args := []string{"build", m.CaddyVersion}
	for _, p := range m.Plugins {
		w := p.ModulePath
		if p.Version != "" {
			w += "@" + p.Version
		}
		args = append(args, "--with", w)
	}
	for _, r := range m.Replacements {
		args = append(args, "--replace", r.Old+"="+r.New)
	}
	return args, nil
}

// docPath is the file that documents the build, from the repository root.
const docPath = "docs/configuration.md"

// docArgs returns the arguments of the first `xcaddy build` command in
// the documentation (a shell block whose lines may end in a backslash).
func docArgs(doc string) ([]string, error) {
	i := strings.Index(doc, "\nxcaddy build ")
	if i < 0 {
		return nil, errors.New(docPath + ": no `xcaddy build` command")
	}
	rest := doc[i+1:]
	var cmd strings.Builder
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		cont := strings.HasSuffix(line, "\\")
		cmd.WriteString(strings.TrimSuffix(line, "\\"))
		cmd.WriteString(" ")
		if !cont {
			break
		}
	}
	f := strings.Fields(cmd.String())
	return f[1:], nil // after "xcaddy"
}

// moduleIDs returns the module IDs of the documentation's module table
// (rows that start with a back-quoted http.* or admin.* ID).
func moduleIDs(doc string) []string {
	var ids []string
	re := regexp.MustCompile("^\\| `((?:http|admin)\\.[a-z0-9_.]+)` \\|")
	for _, line := range strings.Split(doc, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// check compares the two descriptions of the build.
func check(manifestJSON []byte, doc string) ([]string, error) {
	want, err := buildArgs(manifestJSON)
	if err != nil {
		return nil, err
	}
	got, err := docArgs(doc)
	if err != nil {
		return nil, err
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return nil, fmt.Errorf("%s's xcaddy command (xcaddy %s) differs from xcaddy.json's build (xcaddy %s)",
			docPath, strings.Join(got, " "), strings.Join(want, " "))
	}
	return want, nil
}

func main() {
	modules := flag.Bool("modules", false, "print the plugin's module IDs from "+docPath+"'s module table instead")
	flag.Parse()
	doc, err := os.ReadFile(docPath)
	if err != nil {
		fail(err)
	}
	if *modules {
		ids := moduleIDs(string(doc))
		if len(ids) == 0 {
			fail(errors.New(docPath + ": no module table"))
		}
		fmt.Println(strings.Join(ids, "\n"))
		return
	}
	data, err := os.ReadFile("xcaddy.json")
	if err != nil {
		fail(err)
	}
	args, err := check(data, string(doc))
	if err != nil {
		fail(err)
	}
	fmt.Println(strings.Join(args, " "))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "xcaddyargs:", err)
	os.Exit(1)
}
