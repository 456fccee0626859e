// Package sshkeys parses, fingerprints and generates the SSH keys of EC2 key pairs,
// with EC2's fingerprint rules.
package sshkeys

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Type is the key algorithm as EC2 names it.
type Type string

const (
	RSA     Type = "rsa"
	ED25519 Type = "ed25519"
)

// Public is a parsed public key.
type Public struct {
	Type Type
	// AuthorizedKey is the key as one authorized_keys line, without comment or newline.
	AuthorizedKey string
	// Fingerprint is what EC2 shows for an imported key: RFC 4716 MD5 (colon-separated
	// hex) for RSA, unpadded base64 SHA-256 for Ed25519.
	Fingerprint string
}

// ErrUnsupported is returned for a key that parses but is neither RSA nor Ed25519.
var ErrUnsupported = errors.New("only ssh-rsa and ssh-ed25519 keys are supported")

// ParsePublic parses an OpenSSH public key ("ssh-rsa AAAA... comment"). EC2 also
// accepts base64-encoded key material; callers decode that first.
func ParsePublic(s string) (Public, error) {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(s)))
	if err != nil {
		return Public{}, fmt.Errorf("parsing public key: %w", err)
	}
	return fromSSH(key)
}

func fromSSH(key ssh.PublicKey) (Public, error) {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	switch key.Type() {
	case ssh.KeyAlgoRSA:
		cpk, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return Public{}, ErrUnsupported
		}
		if rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 1024 {
			return Public{}, fmt.Errorf("RSA keys must have at least 1024 bits, this one has %d", rk.N.BitLen())
		}
		sum := md5.Sum(key.Marshal())
		return Public{Type: RSA, AuthorizedKey: line, Fingerprint: colonHex(sum[:])}, nil
	case ssh.KeyAlgoED25519:
		sum := sha256.Sum256(key.Marshal())
		return Public{Type: ED25519, AuthorizedKey: line, Fingerprint: base64.RawStdEncoding.EncodeToString(sum[:])}, nil
	}
	return Public{}, ErrUnsupported
}

// Pair is a generated key pair. The private key is returned to the client once and
// never stored.
type Pair struct {
	Public
	// PrivateKeyPEM is the private key as EC2 returns it: PKCS#1 "RSA PRIVATE KEY" for
	// RSA, OpenSSH format for Ed25519.
	PrivateKeyPEM string
	// CreatedFingerprint is what EC2 shows for a key it created: the SHA-1 of the
	// PKCS#8 DER private key (colon-separated hex) for RSA, the SHA-256 of the public
	// key for Ed25519.
	CreatedFingerprint string
}

// Generate makes a new key pair: RSA 2048 bits or Ed25519.
func Generate(t Type) (Pair, error) {
	switch t {
	case RSA:
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return Pair{}, fmt.Errorf("generating RSA key: %w", err)
		}
		pub, err := ssh.NewPublicKey(&priv.PublicKey)
		if err != nil {
			return Pair{}, err
		}
		p, err := fromSSH(pub)
		if err != nil {
			return Pair{}, err
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return Pair{}, err
		}
		sum := sha1.Sum(pkcs8)
		block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
		return Pair{Public: p, PrivateKeyPEM: strings.TrimSpace(string(block)), CreatedFingerprint: colonHex(sum[:])}, nil
	case ED25519:
		pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Pair{}, fmt.Errorf("generating Ed25519 key: %w", err)
		}
		pub, err := ssh.NewPublicKey(pubKey)
		if err != nil {
			return Pair{}, err
		}
		p, err := fromSSH(pub)
		if err != nil {
			return Pair{}, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "")
		if err != nil {
			return Pair{}, err
		}
		return Pair{Public: p, PrivateKeyPEM: strings.TrimSpace(string(pem.EncodeToMemory(block))), CreatedFingerprint: p.Fingerprint}, nil
	}
	return Pair{}, fmt.Errorf("unsupported key type %q", t)
}

func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
