// Package devcert makes short-lived self-signed certificates for local
// development and tests of WebTransport, which runs over TLS only.
//
// Browsers accept such a certificate for a WebTransport session without a
// trusted chain when the page names it by hash (serverCertificateHashes),
// if its key is ECDSA P-256 and its validity period is at most 14 days:
// [Generate] makes one and gives its hash, which a page takes in base64
// ([Certificate.HashBase64]) and chanio's client in
// transport.WebTransportDialOptions.CertificateHashes.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// MaxValidity is the longest validity period browsers accept for a
// certificate pinned by serverCertificateHashes.
const MaxValidity = 14 * 24 * time.Hour

// DefaultValidity is the validity period [Generate] gives when asked for
// none: 13 days, a day short of the limit.
const DefaultValidity = 13 * 24 * time.Hour

// ErrValidity is returned by [Generate] for a validity period over
// [MaxValidity].
var ErrValidity = errors.New("devcert: validity over 14 days")

// Certificate is a self-signed certificate and its key.
type Certificate struct {
	// TLS is the certificate and key, with Leaf set, for a tls.Config.
	TLS tls.Certificate
	// Hash is the SHA-256 of the certificate's DER: what
	// serverCertificateHashes name.
	Hash [sha256.Size]byte
}

// Generate makes a self-signed ECDSA P-256 certificate for hosts (DNS
// names or IP addresses; none means localhost, 127.0.0.1 and ::1), valid
// from a minute ago for validity (zero means [DefaultValidity]; over
// [MaxValidity] fails with [ErrValidity]).
func Generate(validity time.Duration, hosts ...string) (*Certificate, error) {
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 || validity > MaxValidity {
		return nil, ErrValidity
	}
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0]},
		NotBefore:             start,
		NotAfter:              start.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Certificate{
		TLS:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Hash: sha256.Sum256(der),
	}, nil
}

// TLSConfig returns a server configuration that presents the certificate.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}}
}

// HashBase64 returns Hash in standard base64, for a page to decode into
// the value of a serverCertificateHashes entry.
func (c *Certificate) HashBase64() string {
	return base64.StdEncoding.EncodeToString(c.Hash[:])
}

// SPKIHashBase64 returns the SHA-256 of the certificate's public key
// (its SubjectPublicKeyInfo) in standard base64: what Chromium's
// --ignore-certificate-errors-spki-list flag takes.
func (c *Certificate) SPKIHashBase64() string {
	sum := sha256.Sum256(c.TLS.Leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// PEM returns the certificate and its key in PEM, for tools that read
// files.
func (c *Certificate) PEM() (cert, key []byte, err error) {
	k, err := x509.MarshalPKCS8PrivateKey(c.TLS.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.TLS.Certificate[0]})
	key = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
	return cert, key, nil
}

// WriteFiles writes the certificate and its key in PEM to cert.pem and
// key.pem in dir (the key readable by its owner only), for a server that
// takes them as files (examples' -tls-cert and -tls-key), and returns
// their paths.
func (c *Certificate) WriteFiles(dir string) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := c.PEM()
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}
