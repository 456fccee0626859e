package controllers

import (
	"strconv"
	"sync"

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
		delete(w.m, key) // the cache has caught up: it is the truth again
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
	delete(w.m, key)
}
