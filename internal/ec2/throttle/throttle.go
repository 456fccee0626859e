// Package throttle limits the request rate of each access key with token buckets, one
// per key and action class, as EC2 does: a class has a burst (the bucket's size) and
// a refill rate. A request that finds its bucket empty is answered
// RequestLimitExceeded (HTTP 503), which the AWS SDKs back off from and retry.
package throttle

import (
	"sync"
	"time"
)

// Class is a group of actions that share a bucket.
type Class string

// The classes EC2 publishes buckets for.
const (
	ClassRunInstances Class = "RunInstances"
	ClassMutating     Class = "mutating"
	ClassDescribe     Class = "describe"
)

// Bucket is a bucket's size and refill rate (tokens per second).
type Bucket struct {
	Burst  float64
	Refill float64
}

// Defaults are EC2's published buckets for the classes.
func Defaults() map[Class]Bucket {
	return map[Class]Bucket{
		ClassRunInstances: {Burst: 5, Refill: 2},
		ClassMutating:     {Burst: 50, Refill: 5},
		ClassDescribe:     {Burst: 100, Refill: 20},
	}
}

// ClassOf is the class of an action.
func ClassOf(action string, mutating bool) Class {
	switch {
	case action == "RunInstances":
		return ClassRunInstances
	case mutating:
		return ClassMutating
	}
	return ClassDescribe
}

type key struct {
	accessKeyID string
	class       Class
}

type state struct {
	tokens float64
	last   time.Time
}

// Limiter holds the buckets. The zero value is not usable; use New.
type Limiter struct {
	buckets map[Class]Bucket
	now     func() time.Time

	mu    sync.Mutex
	state map[key]*state
}

// New makes a limiter with the given buckets (a class without one is not limited).
func New(buckets map[Class]Bucket, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{buckets: buckets, now: now, state: map[key]*state{}}
}

// Allow takes a token from the key's bucket of the class and reports whether there
// was one.
func (l *Limiter) Allow(accessKeyID string, class Class) bool {
	b, ok := l.buckets[class]
	if !ok || b.Burst <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key{accessKeyID, class}
	s, ok := l.state[k]
	if !ok {
		s = &state{tokens: b.Burst, last: now}
		l.state[k] = s
	}
	if elapsed := now.Sub(s.last).Seconds(); elapsed > 0 {
		s.tokens = min(b.Burst, s.tokens+elapsed*b.Refill)
	}
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	l.forgetIdle(now)
	return true
}

// forgetIdle drops, now and then, buckets that have refilled completely: they are
// the same as a new one, and keeping them would grow the map with every key ever seen.
func (l *Limiter) forgetIdle(now time.Time) {
	if len(l.state) < 4096 {
		return
	}
	for k, s := range l.state {
		b := l.buckets[k.class]
		if s.tokens+now.Sub(s.last).Seconds()*b.Refill >= b.Burst {
			delete(l.state, k)
		}
	}
}
