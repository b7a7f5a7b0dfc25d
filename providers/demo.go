package providers

import (
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Published demo values. The embedded sandbox (package sandbox) accepts
// them by default and Caddyfile.example uses them as {$VAR:default}
// fallbacks, so anyone can read them: a real account configured with one
// of them can be impersonated (notifications forged, calls made). They are
// therefore refused unless the account's endpoint is a loopback address,
// where only the sandbox can be.
const (
	// DemoAPIToken is Caddyfile.example's fallback api_token.
	DemoAPIToken = "demo-api-token-change-me"
	// DemoForwardSecret is Caddyfile.example's fallback forward_secret.
	DemoForwardSecret = "whsec_ZGVtby1mb3J3YXJkLXNlY3JldC1jaGFuZ2UtbWU="
	// DemoPaysagePublicKey is the public half of the sandbox's TEST-ONLY
	// PaySage webhook signing key (base64 DER SubjectPublicKeyInfo); its
	// private half is published in the sandbox's source tree.
	DemoPaysagePublicKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu28Jy+TilaWkzkACa3NS8ac9DV63WQ6lUgXuQCZIbZk7RYem+vFyk+RGeSA60oD4+A/tKY14xPlXdEx77eAE2kU6E2p6e/NE7CtU6qbUZGWM7Qtaw37Fi6/QCP7QfVqolakx8YF/lL5zIxdayjXQBZ4lyxbUI89bOWpuGkGpvHTkEVKFPQ1Mn5r4O3aDVknxnwE4YjCzUiJjA2edSFKmI6BKBvIHo+JmyRSwe0WmAGXBPR1ovmHwATDUEeN1iBtxlLqoF9PnlBvbFsBGpL78GZGpBQv73nvzS8IKsfeMUOtvXybH7Qv092jmBhbHnnYZdhrt+m9hNshk84tEsRqfvwIDAQAB"
)

// demoValues is every published demo secret or key, in the normalised
// form demoNormal gives: the sandbox's defaults (payabl.'s public sandbox
// secret b185, the Razorpay and PaySage sandbox secrets, the PaySage
// sandbox public key in its SubjectPublicKeyInfo and PKCS#1 forms) and
// Caddyfile.example's demo api_token and forward_secret.
var demoValues = func() []string {
	v := []string{
		"b185",
		"sandbox_key_secret",
		"sandbox_webhook_secret",
		"sandbox_secret_key",
		DemoAPIToken,
		DemoForwardSecret,
		DemoPaysagePublicKey,
	}
	der, err := base64.StdEncoding.DecodeString(DemoPaysagePublicKey)
	if err != nil {
		panic("providers: DemoPaysagePublicKey is not base64")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		panic("providers: DemoPaysagePublicKey is not a public key")
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		panic("providers: DemoPaysagePublicKey is not an RSA key")
	}
	return append(v, base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(rsaPub)))
}()

// demoNormal removes PEM armour lines and all white space, so the demo key
// is recognised whether given as PEM or as wrapped or unwrapped base64.
func demoNormal(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "-----") {
			continue
		}
		for _, r := range line {
			if r != ' ' && r != '\t' && r != '\r' {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// IsDemoValue reports whether v is one of the published demo secrets or
// keys. It compares every entry in constant time and never logs.
func IsDemoValue(v string) bool {
	n := []byte(demoNormal(v))
	found := 0
	for _, d := range demoValues {
		found |= subtle.ConstantTimeCompare(n, []byte(d))
	}
	return found == 1
}

// IsLoopbackEndpoint reports whether endpoint is an absolute URL whose host
// is a loopback IP address (127.0.0.0/8, ::1) or the name "localhost". An
// empty endpoint is not loopback: a provider's default is its public API.
func IsLoopbackEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckDemoSecret refuses a published demo value (see IsDemoValue) as the
// secret or key named field unless endpoint, the account's API base URL,
// is a loopback address (IsLoopbackEndpoint). The error names the field
// and the rule, never the value.
func CheckDemoSecret(field, value, endpoint string) error {
	if value == "" || !IsDemoValue(value) || IsLoopbackEndpoint(endpoint) {
		return nil
	}
	return fmt.Errorf("%s: this is a published demo value (the embedded sandbox's or Caddyfile.example's), "+
		"accepted only when the account's endpoint is a loopback address (127.0.0.0/8, ::1 or localhost: the sandbox); "+
		"use the account's own secret", field)
}

// Endpointer is implemented by provider modules that call one API base
// URL. After Provision, APIEndpoint returns that URL, defaults applied.
type Endpointer interface {
	APIEndpoint() string
}

// DemoAccounter is implemented by provider modules that can tell whether
// an account is a demo account. The host accepts its own demo api_token
// and forward_secret only while every account is one (a loopback endpoint
// alone is not enough: a real account may be reached through a local
// egress proxy or sidecar on 127.0.0.1). A module that does not implement
// it counts as not a demo account.
type DemoAccounter interface {
	// DemoAccount reports, after Provision, whether the account is a demo
	// account: see IsDemoAccount.
	DemoAccount() bool
}

// IsDemoAccount reports whether an account with API base URL endpoint and
// the given secrets and keys is a demo account: the endpoint is loopback
// (IsLoopbackEndpoint), at least one secret is given, and every non-empty
// one is a published demo value (IsDemoValue). One real secret makes the
// account real, wherever its endpoint points.
func IsDemoAccount(endpoint string, secrets ...string) bool {
	if !IsLoopbackEndpoint(endpoint) {
		return false
	}
	n := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if !IsDemoValue(s) {
			return false
		}
		n++
	}
	return n > 0
}
