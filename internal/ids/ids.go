// Package ids makes and checks EC2-shaped IDs: a prefix, a dash and 17 lowercase hex
// digits (older, 8-digit IDs are accepted where EC2 accepts them).
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Prefixes of the EC2 nouns Koala knows.
const (
	Instance    = "i"
	Reservation = "r"
	Image       = "ami"
	KeyPair     = "key"
	Volume      = "vol"
	Snapshot    = "snap"
	VPC         = "vpc"
	Subnet      = "subnet"
	// SecurityGroup and SecurityGroupRule: groups and their rules.
	SecurityGroup     = "sg"
	SecurityGroupRule = "sgr"
	// Allocation and Association: Elastic IPs and their associations.
	Allocation  = "eipalloc"
	Association = "eipassoc"
	// NetworkInterface and InterfaceAttachment: an instance's primary interface and its
	// attachment, derived from the instance's ID.
	NetworkInterface    = "eni"
	InterfaceAttachment = "eni-attach"
)

const hexDigits = 17

// New returns a random ID with the given prefix.
func New(prefix string) string {
	var b [9]byte // 72 bits, 17 hex digits are used
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; if it ever does, nothing is safe to make.
		panic("ids: reading random bytes: " + err.Error())
	}
	return prefix + "-" + hex.EncodeToString(b[:])[:hexDigits]
}

// FromSeed derives an ID from the seed parts: the same parts give the same ID, so a
// retried operation names the same object (used for client tokens and for objects
// created with kubectl, whose ID comes from their UID).
func FromSeed(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:hexDigits]
}

// Valid reports whether id is an ID with the given prefix.
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok || (len(rest) != hexDigits && len(rest) != 8) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PrefixOf returns the prefix of an ID-shaped string ("i" for "i-0123..."), or "" when
// s has no dash.
func PrefixOf(s string) string {
	p, _, ok := strings.Cut(s, "-")
	if !ok {
		return ""
	}
	return p
}
