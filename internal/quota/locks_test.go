package quota

import (
	"testing"
	"time"
)

func TestAnAccountsLockExcludesItsOwnCallsButNotOtherAccounts(t *testing.T) {
	var l Locks
	unlock := l.Lock("acct-a")

	// Another account is not held up.
	done := make(chan struct{})
	go func() { l.Lock("acct-b")(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("acct-b waited for acct-a's lock")
	}

	// The same account waits until the lock is released.
	got := make(chan struct{})
	go func() { l.Lock("acct-a")(); close(got) }()
	select {
	case <-got:
		t.Fatal("acct-a's second call did not wait for the first")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("acct-a's second call still waits after the release")
	}
}

func TestANilLocksLocksNothing(t *testing.T) {
	var l *Locks
	l.Lock("acct-a")
	l.Lock("acct-a")() // would block forever if it locked
}
