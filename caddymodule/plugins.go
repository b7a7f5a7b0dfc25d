package caddymodule

// One `--with .../caddymodule` brings every provider and the sandbox.
// Adding a provider means one new package under providers/ and one line
// here.
import (
	_ "github.com/caddy-payments/caddy-payments/providers/payabl"
	_ "github.com/caddy-payments/caddy-payments/providers/paysage"
	_ "github.com/caddy-payments/caddy-payments/providers/razorpay"
	_ "github.com/caddy-payments/caddy-payments/sandbox"
)
