// Package credentials generates AWS-style access keys.
package credentials

import (
	"crypto/rand"
	"encoding/base64"
)

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// NewAccessKeyID returns "AKIA" and 16 characters of the alphabet AWS key IDs use.
func NewAccessKeyID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	out := []byte("AKIA")
	for _, c := range b {
		out = append(out, keyAlphabet[int(c)%len(keyAlphabet)])
	}
	return string(out)
}

// NewSecretAccessKey returns 40 characters of base64 from 30 random bytes, the shape of
// an AWS secret access key.
func NewSecretAccessKey() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
