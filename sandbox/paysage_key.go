package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// paysageTestKeyPEM is a fixed RSA-2048 key pair generated once for the
// sandbox. It is TEST-ONLY: the private half is published in this source
// tree, so anyone can forge signatures with it. It exists so that the
// gateway's `public_key` option can be exercised against the sandbox
// without configuration; never configure its public half for a real shop.
//
//go:embed testdata/paysage_sandbox_test_key.pem
var paysageTestKeyPEM []byte

// paysageTestKey and paysageTestPublicKey are the parsed embedded key and
// its public half in the back-office format.
var paysageTestKey, paysageTestPublicKey = mustPaysageTestKey()

// PaysagePublicKey returns the public half of the sandbox's embedded
// TEST-ONLY webhook signing key, as the PaySage back office shows a shop's
// public key: base64 of the DER SubjectPublicKeyInfo, no PEM armour. It is
// what the gateway's paysage `public_key` option takes to verify the
// sandbox's Content-Signature (unless the sandbox has its own private_key).
func PaysagePublicKey() string { return paysageTestPublicKey }

func mustPaysageTestKey() (*rsa.PrivateKey, string) {
	k, err := parsePaysageKey(paysageTestKeyPEM)
	if err != nil {
		panic("sandbox: embedded PaySage test key: " + err.Error())
	}
	pub, err := paysagePublicKeyOf(k)
	if err != nil {
		panic("sandbox: embedded PaySage test key: " + err.Error())
	}
	return k, pub
}

// loadPaysageKey reads the private_key file. Errors name the path but
// never quote the file's content.
func loadPaysageKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private_key: cannot read %q", path)
	}
	k, err := parsePaysageKey(b)
	if err != nil {
		return nil, fmt.Errorf("private_key %q: %w", path, err)
	}
	return k, nil
}

// parsePaysageKey accepts the first PEM block of b: "RSA PRIVATE KEY"
// (PKCS#1) or "PRIVATE KEY" (PKCS#8) holding RSA of at least 2048 bits.
func parsePaysageKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want RSA PRIVATE KEY or PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, errors.New("the PEM block does not parse as a private key")
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key (PaySage signs with RSA)")
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("RSA key has %d bits, want at least 2048", rk.N.BitLen())
	}
	return rk, nil
}

// paysagePublicKeyOf renders k's public half as base64 DER SPKI.
func paysagePublicKeyOf(k *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", errors.New("cannot encode the public key")
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// sign returns the Content-Signature of a raw webhook body:
// base64(RSA PKCS#1 v1.5 over SHA-256(body)).
func (p *paysage) sign(body []byte) (string, error) {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// servePublicKey answers GET /_sandbox/public_key with the base64 DER SPKI
// as text/plain, no trailing newline, ready to paste into `public_key`.
func (p *paysage) servePublicKey(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := w.Write([]byte(p.publicKey))
	return err
}
