package credentials

import (
	"regexp"
	"testing"
)

func TestShapes(t *testing.T) {
	id, secret := NewAccessKeyID(), NewSecretAccessKey()
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(id) {
		t.Errorf("access key ID %q", id)
	}
	if len(secret) != 40 {
		t.Errorf("secret %q has %d characters", secret, len(secret))
	}
	if NewAccessKeyID() == id || NewSecretAccessKey() == secret {
		t.Error("two keys were equal")
	}
}
