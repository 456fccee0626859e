package kubevirtsim

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// phaseClock remembers when the simulator first saw each object in its current
// simulated step, with full precision (API timestamps have one-second precision, too
// coarse for the sub-second delays tests use). It is memory only: after a restart, a
// step in progress starts again, as a restarted importer pod or guest would.
type phaseClock struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[clockKey]clockEntry
}

type clockKey struct {
	kind string
	name types.NamespacedName
}

type clockEntry struct {
	uid   types.UID
	step  string
	since time.Time
}

func newPhaseClock(now func() time.Time) *phaseClock {
	return &phaseClock{now: now, entries: map[clockKey]clockEntry{}}
}

// elapsed returns how long the object (kind, name, uid) has been in step, starting the
// count now when it was not known to be in that step.
func (c *phaseClock) elapsed(kind string, name types.NamespacedName, uid types.UID, step string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	k := clockKey{kind, name}
	e, ok := c.entries[k]
	if !ok || e.uid != uid || e.step != step {
		c.entries[k] = clockEntry{uid: uid, step: step, since: now}
		return 0
	}
	return now.Sub(e.since)
}

// enter records that the object entered step now (the simulator just wrote it).
func (c *phaseClock) enter(kind string, name types.NamespacedName, uid types.UID, step string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[clockKey{kind, name}] = clockEntry{uid: uid, step: step, since: c.now()}
}

// forget drops what is known about the object.
func (c *phaseClock) forget(kind string, name types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, clockKey{kind, name})
}

// wait returns how much of d is left after elapsed (at least 1ms when any is left, so
// that a RequeueAfter is never zero).
func wait(d, elapsed time.Duration) time.Duration {
	left := d - elapsed
	if left <= 0 {
		return 0
	}
	return max(left, time.Millisecond)
}
