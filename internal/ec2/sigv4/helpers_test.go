package sigv4

import (
	"errors"
	"strings"
	"testing"
)

// checkErr fails unless err matches: no error when code is "", else an *Error with that
// code whose message contains msg.
func checkErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want an *Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%q), want %s", e.Code, e.Message, code)
	}
	if !strings.Contains(e.Message, msg) {
		t.Fatalf("message = %q, want it to contain %q", e.Message, msg)
	}
}
