package quota

import "sync"

// Locks serialises, per account, the check of a quota and the creation it allows, so
// that on one EC2 endpoint two requests of an account cannot both fit into the last of
// a limit. (Requests that race on different replicas are the operator's to hold back.)
// Its zero value is ready for use; a nil *Locks locks nothing, for handlers built
// without one in unit tests.
type Locks struct{ byAccount sync.Map }

// Lock takes the lock of the account whose namespace is given and returns its release.
func (l *Locks) Lock(namespace string) (unlock func()) {
	if l == nil {
		return func() {}
	}
	m, _ := l.byAccount.LoadOrStore(namespace, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// CheckLocked runs check with the account's lock held. When check passes the lock
// stays held until unlock, so that the creation the check allowed is counted before
// the next check; when it fails the lock is released and check's error returned.
func (l *Locks) CheckLocked(namespace string, check func() error) (unlock func(), err error) {
	unlock = l.Lock(namespace)
	if err := check(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}
