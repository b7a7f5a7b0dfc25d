package payabl

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func caddyCtx(t *testing.T) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}
