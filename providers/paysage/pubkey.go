package paysage

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
)

// minKeyBits refuses toy keys: a signature by a key this small could be
// forged by whoever factors it.
const minKeyBits = 2048

// parsePublicKey reads the shop's RSA public key in the two forms people
// have: the back office's base64 DER SubjectPublicKeyInfo (one line, or
// wrapped; whitespace is ignored, as PHP's SDK strips \r\n), or PEM
// ("PUBLIC KEY", or PKCS#1 "RSA PUBLIC KEY"). Errors describe the problem,
// never the value.
func parsePublicKey(s string) (*rsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("is empty")
	}
	var der []byte
	pkcs1 := false
	if strings.HasPrefix(s, "-----BEGIN") {
		block, rest := pem.Decode([]byte(s))
		if block == nil {
			return nil, errors.New("is not valid PEM")
		}
		if len(strings.TrimSpace(string(rest))) > 0 {
			return nil, errors.New("holds more than one PEM block")
		}
		switch block.Type {
		case "PUBLIC KEY":
		case "RSA PUBLIC KEY":
			pkcs1 = true
		default:
			return nil, errors.New("PEM block is " + block.Type + ", want PUBLIC KEY")
		}
		der = block.Bytes
	} else {
		compact := strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
		var err error
		if der, err = base64.StdEncoding.DecodeString(compact); err != nil {
			return nil, errors.New("is neither PEM nor base64 (the back office's base64 DER SubjectPublicKeyInfo)")
		}
	}
	var pub *rsa.PublicKey
	if pkcs1 {
		k, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return nil, errors.New("is not a PKCS#1 RSA public key")
		}
		pub = k
	} else {
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, errors.New("is not a DER SubjectPublicKeyInfo public key")
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("is not an RSA key (PaySage signs webhooks with RSA)")
		}
		pub = rk
	}
	if pub.N.BitLen() < minKeyBits {
		return nil, errors.New("is shorter than 2048 bits")
	}
	return pub, nil
}
