package controllers

import (
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// writtenStatuses remembers, per object, the resourceVersion that the reconciler's
// last status write produced. A reconcile that reads a cache which has not caught up
// with that write (an event of a related object came first) computes from a stale
// status; it skips its status write, since the write's own event brings the object
// back once the cache has it. Without this every launch costs a write or two more.
type writtenStatuses struct {
	mu sync.Mutex
	m  map[types.NamespacedName]uint64
}

// behind reports whether the cached copy of the object (of resourceVersion cachedRV)
// is older than the reconciler's last status write.
func (w *writtenStatuses) behind(key types.NamespacedName, cachedRV string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.m[key]
	if !ok {
		return false
	}
	cached, err := strconv.ParseUint(cachedRV, 10, 64)
	if err != nil || cached >= last {
		forgetKey(&w.m, key) // the cache has caught up: it is the truth again
		return false
	}
	return true
}

// wrote records the resourceVersion a status write produced.
func (w *writtenStatuses) wrote(key types.NamespacedName, rv string) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]uint64{}
	}
	w.m[key] = n
}

// forget drops what is known of an object that is gone.
func (w *writtenStatuses) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	forgetKey(&w.m, key)
}

// createdObjects remembers, per owner, that the reconciler created an object which its
// cache may not show yet. A reconcile that comes before the cache has the object (an
// event of a related object came first) would create it again: the API server refuses
// (AlreadyExists), but the refusal is a write request all the same, and one more
// round trip under load. Instead it waits for the object's own event. An entry
// expires, so that an object deleted before the cache ever saw it is made again.
type createdObjects struct {
	mu sync.Mutex
	m  map[types.NamespacedName]time.Time
}

// createdObjectTTL is how long a creation is trusted without the cache showing it: far
// longer than a cache's lag.
const createdObjectTTL = 30 * time.Second

// awaiting reports how long the reconciler should still wait for the cache to show
// the object it created for key; 0 when it made none lately.
func (c *createdObjects) awaiting(key types.NamespacedName) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.m[key]
	if !ok {
		return 0
	}
	left := createdObjectTTL - time.Since(at)
	if left <= 0 {
		forgetKey(&c.m, key)
		return 0
	}
	return left
}

// created records that the reconciler created the object of key.
func (c *createdObjects) created(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.NamespacedName]time.Time{}
	}
	c.m[key] = time.Now()
}

// seen drops the record once the cache shows the object (or its owner is gone).
func (c *createdObjects) seen(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	forgetKey(&c.m, key)
}

// forgetKey deletes key from *m, and drops *m once it is empty: a map keeps the room
// of its most entries, and a launch storm of 10,000 instances leaves these maps that
// large for good otherwise (they are made again at the next record).
func forgetKey[V any](m *map[types.NamespacedName]V, key types.NamespacedName) {
	delete(*m, key)
	if len(*m) == 0 {
		*m = nil
	}
}
