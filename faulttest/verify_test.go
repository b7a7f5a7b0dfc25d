package faulttest

import "github.com/caddy-payments/caddy-payments/internal/webhooktest"

// verifyWebhook checks a Standard Webhooks delivery the way a shop does,
// independently of the gateway's signer.
var verifyWebhook = webhooktest.Verify
