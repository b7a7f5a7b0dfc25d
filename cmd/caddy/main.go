// Command caddy is Caddy with its standard modules plus the caddy-payments
// plugin (the gateway, every provider and the embedded sandbox). It is what
// `go run ./cmd/caddy run --config Caddyfile.example` builds.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules.
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	// The payments gateway, its providers and the embedded sandbox.
	_ "github.com/caddy-payments/caddy-payments/caddymodule"
)

func main() {
	caddycmd.Main()
}
