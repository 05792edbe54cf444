package redislimit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/limit"
)

// TestTLS starts redis-server with TLS only (port 17030, a certificate made
// by the test) and decides through NewClient with a rediss:// URL and with
// Config.TLS; a client without the CA must fail (verification on).
func TestTLS(t *testing.T) {
	needBinaries(t, "redis-server")
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := dir+"/cert.pem", dir+"/key.pem"
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	const port = 17030
	startServerArgs(t, 17031, "--tls-port", fmt.Sprint(port), "--tls-cert-file", certFile,
		"--tls-key-file", keyFile, "--tls-auth-clients", "no")
	// (the plain port 17031 only serves startServer's readiness check)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	for _, cfg := range []Config{
		{Addr: fmt.Sprintf("rediss://127.0.0.1:%d", port), TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	} {
		cfg.Timeout = 500 * time.Millisecond
		cl, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, err := NewBucket(cl, "tls", limit.PerSecond(100), Options{Prefix: fmt.Sprintf("tls%d", time.Now().UnixNano()), Timeout: cfg.Timeout, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := l.Allow(context.Background(), 1); err != nil || !r.Allowed || l.Stats().Errors != 0 {
			t.Errorf("%s over TLS: %+v, %v, %+v", cfg.Addr, r, err, l.Stats())
		}
		_ = cl.Close()
	}
	// no CA: the self-signed certificate is refused
	cl, err := NewClient(Config{Addr: fmt.Sprintf("rediss://127.0.0.1:%d", port), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(context.Background()).Err(); err == nil {
		t.Error("a rediss:// client without the CA connected: certificate not verified")
	}
}
