package sshkeys

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateGivesAKeyThatParsesBack(t *testing.T) {
	for _, typ := range []Type{RSA, ED25519} {
		t.Run(string(typ), func(t *testing.T) {
			p, err := Generate(typ)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := ssh.ParsePrivateKey([]byte(p.PrivateKeyPEM))
			if err != nil {
				t.Fatalf("private key does not parse: %v", err)
			}
			if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); got != p.AuthorizedKey {
				t.Errorf("private key's public half %q != %q", got, p.AuthorizedKey)
			}
			back, err := ParsePublic(p.AuthorizedKey + " comment")
			if err != nil || back.Fingerprint != p.Fingerprint || back.Type != typ {
				t.Errorf("ParsePublic = %+v, %v", back, err)
			}
		})
	}
}

func TestFingerprintShapes(t *testing.T) {
	rsaPair, _ := Generate(RSA)
	md5re := regexp.MustCompile(`^([0-9a-f]{2}:){15}[0-9a-f]{2}$`)
	sha1re := regexp.MustCompile(`^([0-9a-f]{2}:){19}[0-9a-f]{2}$`)
	if !md5re.MatchString(rsaPair.Fingerprint) {
		t.Errorf("imported RSA fingerprint %q is not colon MD5", rsaPair.Fingerprint)
	}
	if !sha1re.MatchString(rsaPair.CreatedFingerprint) {
		t.Errorf("created RSA fingerprint %q is not colon SHA-1", rsaPair.CreatedFingerprint)
	}
	edPair, _ := Generate(ED25519)
	if len(edPair.Fingerprint) != 43 {
		t.Errorf("Ed25519 fingerprint %q is not unpadded base64 SHA-256", edPair.Fingerprint)
	}
}

// Keys made by ssh-keygen, and the fingerprints `ssh-keygen -E md5 -l` and
// `ssh-keygen -l` print for them.
func TestKnownFingerprints(t *testing.T) {
	cases := map[string]struct{ pub, want string }{
		"RSA: colon-separated MD5 of the key blob": {
			pub:  "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDU9J9zxUI82i2cZlGl2ZWy8R7IS+YNr1oUZLs/D0acZJAXc5dGl0R8DG3GSt7vmd39sgfZtkOXdeBv0LC6VgYrfE/Wp4zJ4MA1vyxL5ath6LiE+/ClzgPy1ApvkM8K9wMQ3OH/RQMiYECSAMprRmqD0/BstTqS6jglzaHDenmaXQ== root@vm",
			want: "e9:d2:44:9f:47:40:48:f7:7c:f3:28:64:94:88:87:da",
		},
		"Ed25519: unpadded base64 SHA-256": {
			pub:  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ/AYo177qSt3HXN/AN2QkzUQU0H+Y0iIE1IJQAAJMLP root@vm",
			want: "4YG0FkkYk9CFrf5yGjQFgpQwwLfHvVMH6O54+c77EcA",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := ParsePublic(tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			if p.Fingerprint != tc.want {
				t.Errorf("fingerprint %s, want %s", p.Fingerprint, tc.want)
			}
		})
	}
}

func TestParsePublicRejects(t *testing.T) {
	cases := map[string]string{
		"garbage":             "not a key",
		"a truncated key":     "ssh-rsa AAAAB3NzaC1yc2E",
		"an unsupported type": "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePublic(in); err == nil {
				t.Errorf("ParsePublic(%q) accepted", in)
			}
		})
	}
}
