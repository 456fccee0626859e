// Package tlsreload serves a certificate and key from files and picks up new ones when
// the files change, as cert-manager rewrites them on renewal, without a restart.
package tlsreload

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// Keypair is a certificate and key read from files.
type Keypair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	certMod time.Time
	keyMod  time.Time
}

// Load reads the files once, so that a bad pair fails at start rather than at the
// first handshake.
func Load(certFile, keyFile string) (*Keypair, error) {
	k := &Keypair{certFile: certFile, keyFile: keyFile}
	if _, err := k.current(); err != nil {
		return nil, err
	}
	return k, nil
}

// GetCertificate is for tls.Config: it returns the pair on disk, reloading it when
// either file's modification time changed. A pair that fails to load (a renewal
// half written) keeps the last good one in use.
func (k *Keypair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.current()
}

func (k *Keypair) current() (*tls.Certificate, error) {
	certInfo, err := os.Stat(k.certFile)
	if err != nil {
		return k.lastGood(fmt.Errorf("reading certificate: %w", err))
	}
	keyInfo, err := os.Stat(k.keyFile)
	if err != nil {
		return k.lastGood(fmt.Errorf("reading key: %w", err))
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && certInfo.ModTime().Equal(k.certMod) && keyInfo.ModTime().Equal(k.keyMod) {
		return k.cert, nil
	}
	pair, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, fmt.Errorf("loading TLS certificate and key: %w", err)
	}
	k.cert, k.certMod, k.keyMod = &pair, certInfo.ModTime(), keyInfo.ModTime()
	return k.cert, nil
}

func (k *Keypair) lastGood(err error) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil {
		return k.cert, nil
	}
	return nil, err
}
