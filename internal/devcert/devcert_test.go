package devcert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/chanio/chanio/internal/devcert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// What browsers ask of a certificate pinned by serverCertificateHashes:
// ECDSA P-256, valid now, for at most 14 days; and the hash is of the DER.
func TestGenerate(t *testing.T) {
	c, err := devcert.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.TLS.Leaf
	key, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Fatalf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d != devcert.DefaultValidity || d > devcert.MaxValidity {
		t.Fatalf("valid for %v", d)
	}
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		t.Fatalf("not valid now: %v to %v", leaf.NotBefore, leaf.NotAfter)
	}
	if c.Hash != sha256.Sum256(c.TLS.Certificate[0]) {
		t.Fatal("Hash is not the SHA-256 of the certificate")
	}
	if h, _ := base64.StdEncoding.DecodeString(c.HashBase64()); string(h) != string(c.Hash[:]) {
		t.Fatal("HashBase64 does not decode to Hash")
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if c.SPKIHashBase64() != base64.StdEncoding.EncodeToString(spki[:]) {
		t.Fatal("SPKIHashBase64 is not the hash of the public key")
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := c.PEM()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil || string(pair.Certificate[0]) != string(c.TLS.Certificate[0]) {
		t.Fatalf("PEM does not read back: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err != nil {
		t.Fatalf("the certificate does not verify against itself: %v", err)
	}
}

func TestGenerateValidity(t *testing.T) {
	for _, tc := range []struct {
		validity time.Duration
		ok       bool
	}{
		{time.Hour, true},
		{devcert.MaxValidity, true},
		{devcert.MaxValidity + time.Second, false},
		{-time.Hour, false},
	} {
		c, err := devcert.Generate(tc.validity, "example.test")
		if !tc.ok {
			if !errors.Is(err, devcert.ErrValidity) {
				t.Errorf("validity %v: %v, want ErrValidity", tc.validity, err)
			}
			continue
		}
		if err != nil || c.TLS.Leaf.NotAfter.Sub(c.TLS.Leaf.NotBefore) != tc.validity || c.TLS.Leaf.DNSNames[0] != "example.test" {
			t.Errorf("validity %v: %v", tc.validity, err)
		}
	}
}
