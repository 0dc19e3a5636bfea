// TLS for orqa-rest: HTTPS to browsers and scripts (optionally requiring
// client certificates) and TLS / mutual TLS to the gateway. Every file is
// re-read when its modification time changes (checked at most once per
// --tls-reload-interval), so replaced certificates reach new connections
// without a restart, as in the C++ services.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// watchedFiles caches what was built from a set of files, rebuilt when one
// of them changes on disk.
type watchedFiles struct {
	paths    []string
	interval time.Duration
	build    func() (interface{}, error)

	mu      sync.Mutex
	value   interface{}
	mtimes  []time.Time
	checked time.Time
}

func newWatched(interval time.Duration, build func() (interface{}, error), paths ...string) (*watchedFiles, error) {
	w := &watchedFiles{paths: paths, interval: interval, build: build}
	v, err := build()
	if err != nil {
		return nil, err
	}
	w.value, w.mtimes, w.checked = v, w.stat(), time.Now()
	return w, nil
}

func (w *watchedFiles) stat() []time.Time {
	out := make([]time.Time, len(w.paths))
	for i, p := range w.paths {
		if st, err := os.Stat(p); err == nil {
			out[i] = st.ModTime()
		}
	}
	return out
}

// get returns the current value; a rebuild that fails (a half-written file)
// keeps the previous one and is retried at the next interval.
func (w *watchedFiles) get() interface{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.checked) < w.interval {
		return w.value
	}
	w.checked = time.Now()
	now := w.stat()
	changed := false
	for i := range now {
		if !now[i].Equal(w.mtimes[i]) {
			changed = true
		}
	}
	if !changed {
		return w.value
	}
	if v, err := w.build(); err == nil {
		w.value, w.mtimes = v, now
	}
	return w.value
}

func loadPair(certFlag, certPath, keyFlag, keyPath string) (*tls.Certificate, error) {
	if _, err := os.Stat(certPath); err != nil {
		return nil, fmt.Errorf("%s: cannot read '%s': %v", certFlag, certPath, errors.Unwrap(err))
	}
	if _, err := os.Stat(keyPath); err != nil {
		return nil, fmt.Errorf("%s: cannot read '%s': %v", keyFlag, keyPath, errors.Unwrap(err))
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("%s '%s' / %s '%s': %v", certFlag, certPath, keyFlag, keyPath, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%s: '%s': %v", certFlag, certPath, err)
	}
	if time.Now().After(leaf.NotAfter) {
		return nil, fmt.Errorf("%s: the certificate in '%s' has expired", certFlag, certPath)
	}
	pair.Leaf = leaf
	return &pair, nil
}

func loadPool(flag, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read '%s': %v", flag, path, errors.Unwrap(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: '%s' holds no PEM certificate", flag, path)
	}
	return pool, nil
}

// tlsFiles are one side's flags.
type tlsFiles struct {
	cert, key, ca             string
	certFlag, keyFlag, caFlag string
}

// serverTLS is the HTTPS configuration, or nil for plain HTTP.
func serverTLS(f tlsFiles, interval time.Duration) (*tls.Config, error) {
	if f.cert == "" && f.key == "" {
		if f.ca != "" {
			return nil, fmt.Errorf("%s needs %s and %s", f.caFlag, f.certFlag, f.keyFlag)
		}
		return nil, nil
	}
	if f.cert == "" || f.key == "" {
		return nil, fmt.Errorf("%s and %s go together", f.certFlag, f.keyFlag)
	}
	pair, err := newWatched(interval, func() (interface{}, error) { return loadPair(f.certFlag, f.cert, f.keyFlag, f.key) }, f.cert, f.key)
	if err != nil {
		return nil, err
	}
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return pair.get().(*tls.Certificate), nil
		},
	}
	if f.ca == "" {
		return base, nil
	}
	pool, err := newWatched(interval, func() (interface{}, error) { return loadPool(f.caFlag, f.ca) }, f.ca)
	if err != nil {
		return nil, err
	}
	// A config per handshake, so a replaced client CA applies to new connections.
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = pool.get().(*x509.CertPool)
		return c, nil
	}
	return base, nil
}

// clientTLS is the configuration to dial the gateway with, or nil for
// plaintext. The server's certificate must be signed by the CA and name the
// host dialled (DNS or IP SAN).
func clientTLS(f tlsFiles, target string, interval time.Duration) (*tls.Config, error) {
	if f.ca == "" {
		if f.cert != "" || f.key != "" {
			return nil, fmt.Errorf("%s / %s need %s (the CA that signs the gateway's certificate)", f.certFlag, f.keyFlag, f.caFlag)
		}
		return nil, nil
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%s and %s go together", f.certFlag, f.keyFlag)
	}
	pool, err := newWatched(interval, func() (interface{}, error) { return loadPool(f.caFlag, f.ca) }, f.ca)
	if err != nil {
		return nil, err
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: host,
		// Verified below against the CA as it is now (it may be replaced).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the gateway presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool.get().(*x509.CertPool), Intermediates: inter, DNSName: host,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}
	if f.cert != "" {
		pair, err := newWatched(interval, func() (interface{}, error) { return loadPair(f.certFlag, f.cert, f.keyFlag, f.key) }, f.cert, f.key)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return pair.get().(*tls.Certificate), nil
		}
	}
	return cfg, nil
}
