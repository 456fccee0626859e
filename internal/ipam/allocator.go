package ipam

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// ErrExhausted says every number of the space is held.
var ErrExhausted = errors.New("no free number left")

// InUseError says the value asked for is held by someone else.
type InUseError struct {
	Value  string
	Holder koalav1.ClaimHolder
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is held by %s/%s (%s)", e.Value, e.Holder.Namespace, e.Holder.Name, e.Holder.ID)
}

// ErrOutOfRange says the value asked for is not in the space (a reserved address, one
// outside the subnet, a VLAN outside the range).
var ErrOutOfRange = errors.New("not in the range that can be handed out")

// Request asks for one number.
type Request struct {
	Type  koalav1.NetworkClaimType
	Scope string
	Space Space
	// Holder is who the claim is for.
	Holder koalav1.ClaimHolder
	// Value asks for this number; empty lets the allocator choose one.
	Value string
}

// Allocator creates and removes claims. It keeps no state that matters: the claims
// are the truth; what it remembers only saves probes of numbers it took a moment ago
// and its cache has not seen yet.
type Allocator struct {
	// Cache reads claims; it may lag the API server.
	Cache client.Reader
	// Client creates and deletes claims in the API server.
	Client client.Client
	// Live reads a claim that a create found taken; nil uses Client. The operator's
	// client reads from its cache, which may not have the claim yet: it passes the
	// manager's API reader here.
	Live client.Reader
	// RecentTTL is how long a number this allocator took is skipped without asking the
	// cache (default one minute: far longer than a cache's lag).
	RecentTTL time.Duration

	mu     sync.Mutex
	recent map[string]time.Time // claim names taken (or being taken) here lately
	swept  time.Time
}

// Allocate holds a number for req.Holder and returns it: req.Value if given (already
// held by the same holder counts as success), else a free one chosen at random, so
// that allocators running at once seldom try the same number. It returns
// ErrExhausted, ErrOutOfRange or an *InUseError when it cannot.
func (a *Allocator) Allocate(ctx context.Context, req Request) (string, error) {
	if req.Value != "" {
		return req.Value, a.claim(ctx, req, req.Value)
	}
	n := req.Space.Size()
	if n == 0 {
		return "", ErrExhausted
	}
	// Linear probing from a random start: every number is looked at once, so a full
	// space is known to be full, and a near-empty one is answered at the first probe
	// whatever its size.
	start := rand.Uint64N(n)
	for i := uint64(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		value := req.Space.At((start + i) % n)
		name := koalav1.ClaimName(req.Type, req.Scope, value)
		if !a.reserve(name) {
			continue // taken here lately, or being taken by another goroutine
		}
		if a.cached(ctx, name) {
			a.forget(name)
			continue
		}
		err := a.Client.Create(ctx, newClaim(req, value))
		switch {
		case err == nil:
			return value, nil
		case apierrors.IsAlreadyExists(err):
			// Another replica took it since our cache last heard; remember that, so we
			// do not ask again until the cache knows.
			continue
		default:
			a.forget(name)
			return "", fmt.Errorf("claiming %s: %w", value, err)
		}
	}
	return "", ErrExhausted
}

// claim holds one given value.
func (a *Allocator) claim(ctx context.Context, req Request, value string) error {
	if _, ok := req.Space.Index(value); !ok {
		return ErrOutOfRange
	}
	name := koalav1.ClaimName(req.Type, req.Scope, value)
	err := a.Client.Create(ctx, newClaim(req, value))
	if err == nil {
		a.mu.Lock()
		a.remember(name)
		a.mu.Unlock()
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("claiming %s: %w", value, err)
	}
	existing := &koalav1.NetworkClaim{}
	if err := a.live().Get(ctx, client.ObjectKey{Name: name}, existing); err != nil {
		if apierrors.IsNotFound(err) {
			// Released between our create and our read: try once more.
			if err := a.Client.Create(ctx, newClaim(req, value)); err == nil {
				return nil
			}
		}
		return fmt.Errorf("reading the claim on %s: %w", value, err)
	}
	if existing.Spec.Holder == req.Holder && existing.DeletionTimestamp.IsZero() {
		return nil // ours already: a retry
	}
	return &InUseError{Value: value, Holder: existing.Spec.Holder}
}

// Holder reads who holds a value, from the cache; nil when nobody does.
func (a *Allocator) Holder(ctx context.Context, t koalav1.NetworkClaimType, scope, value string) (*koalav1.ClaimHolder, error) {
	c := &koalav1.NetworkClaim{}
	if err := a.Cache.Get(ctx, client.ObjectKey{Name: koalav1.ClaimName(t, scope, value)}, c); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &c.Spec.Holder, nil
}

// Release removes the claim on a value if holder holds it. A claim that is gone, or
// held by someone else, is left alone.
func (a *Allocator) Release(ctx context.Context, t koalav1.NetworkClaimType, scope, value string, holder koalav1.ClaimHolder) error {
	name := koalav1.ClaimName(t, scope, value)
	c := &koalav1.NetworkClaim{}
	if err := a.live().Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
		return client.IgnoreNotFound(err)
	}
	if c.Spec.Holder != holder {
		return nil
	}
	if err := a.Client.Delete(ctx, c, client.Preconditions{UID: &c.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing %s: %w", value, err)
	}
	a.forget(name)
	return nil
}

func newClaim(req Request, value string) *koalav1.NetworkClaim {
	return &koalav1.NetworkClaim{
		ObjectMeta: metav1.ObjectMeta{Name: koalav1.ClaimName(req.Type, req.Scope, value)},
		Spec:       koalav1.NetworkClaimSpec{Type: req.Type, Scope: req.Scope, Value: value, Holder: req.Holder},
	}
}

// cached reports whether the cache holds a claim of that name.
func (a *Allocator) cached(ctx context.Context, name string) bool {
	c := &koalav1.NetworkClaim{}
	err := a.Cache.Get(ctx, client.ObjectKey{Name: name}, c)
	return err == nil
}

// reserve marks a name as being taken here, unless it already is (or was lately).
func (a *Allocator) reserve(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.recent[name]; ok && time.Since(t) < a.ttl() {
		return false
	}
	a.remember(name)
	return true
}

// remember records a name; the caller holds mu.
func (a *Allocator) remember(name string) {
	now := time.Now()
	if a.recent == nil {
		a.recent = map[string]time.Time{}
	}
	a.recent[name] = now
	if now.Sub(a.swept) > a.ttl() {
		for k, t := range a.recent {
			if now.Sub(t) >= a.ttl() {
				delete(a.recent, k)
			}
		}
		a.swept = now
	}
}

func (a *Allocator) forget(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.recent, name)
}

func (a *Allocator) live() client.Reader {
	if a.Live != nil {
		return a.Live
	}
	return a.Client
}

func (a *Allocator) ttl() time.Duration {
	if a.RecentTTL > 0 {
		return a.RecentTTL
	}
	return time.Minute
}
