package quota

import (
	"errors"
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
	if !stillWaiting(got) {
		t.Fatal("acct-a's second call did not wait for the first")
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

func TestACheckUnderTheLockKeepsItOnlyWhenItPasses(t *testing.T) {
	var l Locks
	refused := errors.New("over the limit")
	unlock, err := l.CheckLocked("acct-a", func() error { return refused })
	if !errors.Is(err, refused) || unlock != nil {
		t.Fatalf("a failed check gave %v and an unlock %v, want its error and none", err, unlock != nil)
	}
	// Released: this would block forever otherwise.
	l.Lock("acct-a")()

	unlock, err = l.CheckLocked("acct-a", func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() { l.Lock("acct-a")(); close(got) }()
	if !stillWaiting(got) {
		t.Fatal("the lock was released after a check that passed")
	}
	unlock()
	<-got
}

// stillWaiting reports whether done is still open a moment later.
func stillWaiting(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}
