// Package store is the EC2 endpoint's view of the API server: reads come from an
// informer cache with indexes (never a list call per request), writes go straight to
// the API server, and a write is not answered until the cache has seen it, so that a
// client reads its own writes on this replica. The store keeps no state of its own.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/intern"
	"github.com/koala-dev/koala/internal/ipam"
)

// Account is the AWS account a request acts in, and what its key may do there.
type Account struct {
	// ID is the 12-digit account ID.
	ID string
	// Name names the Account object; its namespace has the same name.
	Name      string
	Namespace string
	// Permission is what the key that signed the request may do.
	Permission koalav1.Permission
	// Quotas are the account's limits.
	Quotas koalav1.AccountQuotas
}

// Store reads Koala objects from a cache and writes them to the API server.
type Store struct {
	cache  cache.Cache
	client client.Client
	// awaitTimeout bounds how long a write waits for the cache to catch up.
	awaitTimeout time.Duration
	// alloc hands out addresses (network.go).
	alloc *ipam.Allocator
}

// Options configure New.
type Options struct {
	Scheme *runtime.Scheme
	// AwaitTimeout bounds the read-your-writes wait; 0 means 5 seconds.
	AwaitTimeout time.Duration
}

// New builds a store on the API server at cfg. Start must run before it is used.
func New(cfg *rest.Config, opts Options) (*Store, error) {
	hasKey, err := labels.NewRequirement(koalav1.AccessKeyLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme: opts.Scheme,
		ByObject: map[client.Object]cache.ByObject{
			// Only the Secrets the operator made for access keys are ever read.
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*hasKey)},
		},
		// Equal strings of different objects (namespaces, IDs, tag keys) held once.
		DefaultTransform: intern.CacheTransform(),
	})
	if err != nil {
		return nil, fmt.Errorf("building cache: %w", err)
	}
	ctx := context.Background()
	if err := index.Setup(ctx, c, index.Endpoint); err != nil {
		return nil, err
	}
	direct, err := client.New(cfg, client.Options{Scheme: opts.Scheme})
	if err != nil {
		return nil, fmt.Errorf("building client: %w", err)
	}
	timeout := opts.AwaitTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	return &Store{cache: c, client: direct, awaitTimeout: timeout, alloc: &ipam.Allocator{Cache: c, Client: direct}}, nil
}

// Start runs the cache until ctx ends and returns once every informer the store
// uses has synced.
func (s *Store) Start(ctx context.Context) error {
	// Informers start on first use; create each one now, so that they all start and
	// sync with the cache rather than on a client's first request.
	node := &metav1.PartialObjectMetadata{}
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	for _, obj := range []client.Object{&koalav1.Instance{}, &koalav1.Image{}, &koalav1.KeyPair{},
		&koalav1.Volume{}, &koalav1.Snapshot{},
		&koalav1.Network{}, &koalav1.Subnet{}, &koalav1.SecurityGroup{}, &koalav1.Address{},
		&koalav1.NetworkClaim{}, &koalav1.ProviderNetwork{}, &koalav1.AddressPool{},
		&koalav1.Account{}, &koalav1.AccessKey{}, &corev1.Secret{},
		&instancetypev1beta1.VirtualMachineClusterInstancetype{}, node} {
		if _, err := s.cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("creating informer for %T: %w", obj, err)
		}
	}
	go func() { _ = s.cache.Start(ctx) }()
	if !s.cache.WaitForCacheSync(ctx) {
		return errors.New("the cache did not sync")
	}
	return nil
}

func nodeMetadataList() *metav1.PartialObjectMetadataList {
	l := &metav1.PartialObjectMetadataList{}
	l.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	return l
}

// ErrUnknownKey is returned for an access key that may not sign requests: unknown,
// inactive, deleted, or of an account that is not (or no longer) ready.
var ErrUnknownKey = errors.New("unknown access key")

// Credentials returns the secret of an access key and the account it acts in. Only a
// key that an AccessKey object vouches for counts: a Secret alone is not a key.
func (s *Store) Credentials(ctx context.Context, accessKeyID string) (secret string, acct Account, err error) {
	var keys koalav1.AccessKeyList
	if err := s.cache.List(ctx, &keys, client.MatchingFields{index.AccessKeyID: accessKeyID}); err != nil {
		return "", Account{}, fmt.Errorf("looking up access key: %w", err)
	}
	for i := range keys.Items {
		key := &keys.Items[i]
		if key.Spec.Status == koalav1.AccessKeyInactive || !key.DeletionTimestamp.IsZero() || key.Status.SecretRef == nil {
			continue
		}
		a := &koalav1.Account{}
		if err := s.cache.Get(ctx, client.ObjectKey{Name: key.Spec.Account}, a); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return "", Account{}, err
		}
		if !a.DeletionTimestamp.IsZero() || a.Status.AccountID == "" || a.Status.Namespace == "" {
			continue
		}
		sec := &corev1.Secret{}
		if err := s.cache.Get(ctx, client.ObjectKey{Namespace: key.Status.SecretRef.Namespace, Name: key.Status.SecretRef.Name}, sec); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return "", Account{}, err
		}
		if string(sec.Data[koalav1.AccessKeyIDKey]) != accessKeyID || sec.Namespace != a.Status.Namespace {
			continue
		}
		permission := key.Spec.Permission
		if permission == "" {
			permission = koalav1.PermissionFullAccess
		}
		return string(sec.Data[koalav1.SecretAccessKeyKey]), Account{
			ID: a.Status.AccountID, Name: a.Name, Namespace: a.Status.Namespace,
			Permission: permission, Quotas: a.Spec.Quotas,
		}, nil
	}
	return "", Account{}, ErrUnknownKey
}

// Reader is the read side, for handlers: the cache. Objects it returns from List with
// UnsafeDisableDeepCopy are shared and must not be modified.
func (s *Store) Reader() client.Reader { return s.cache }

// Create writes a new object and waits until the cache has it. A refusal by one of
// the namespace's ResourceQuotas becomes EC2's limit error of the kind (QuotaError).
func (s *Store) Create(ctx context.Context, obj client.Object) error {
	if err := s.client.Create(ctx, obj); err != nil {
		return QuotaError(obj, err)
	}
	s.await(ctx, obj, false)
	return nil
}

// CreateUnawaited writes a new object as Create does, without waiting for the cache: for
// a request that makes several objects, one after the other, and calls Await for them
// all once its last write is out, so that the cache's lag is waited for once, not once
// per write.
func (s *Store) CreateUnawaited(ctx context.Context, obj client.Object) error {
	if err := s.client.Create(ctx, obj); err != nil {
		return QuotaError(obj, err)
	}
	return nil
}

// Await waits until the cache has the writes of objs (as Create waits for its own).
func (s *Store) Await(ctx context.Context, objs ...client.Object) {
	for _, obj := range objs {
		s.await(ctx, obj, false)
	}
}

// Patch patches an object and waits until the cache has the result.
func (s *Store) Patch(ctx context.Context, obj client.Object, patch client.Patch) error {
	if err := s.client.Patch(ctx, obj, patch); err != nil {
		return err
	}
	s.await(ctx, obj, false)
	return nil
}

// Delete deletes an object and waits until the cache no longer has it (or sees it
// being deleted, when finalizers hold it).
func (s *Store) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := s.client.Delete(ctx, obj, opts...); err != nil {
		return err
	}
	s.await(ctx, obj, true)
	return nil
}

// Direct is the uncached client, for the rare read that must not be stale.
func (s *Store) Direct() client.Client { return s.client }

// await polls the cache until it has seen obj's resourceVersion (or, for a deletion,
// until obj is gone or marked deleted). It gives up quietly after awaitTimeout: the
// write has happened, only the read-your-writes promise is at stake.
func (s *Store) await(ctx context.Context, obj client.Object, deleted bool) {
	want, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	if err != nil && !deleted {
		return
	}
	probe, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return
	}
	key := client.ObjectKeyFromObject(obj)
	start := time.Now()
	deadline := start.Add(s.awaitTimeout)
	for {
		err := s.cache.Get(ctx, key, probe)
		switch {
		case deleted && (apierrors.IsNotFound(err) || (err == nil && probe.GetDeletionTimestamp() != nil)):
			return
		case !deleted && err == nil:
			if got, perr := strconv.ParseUint(probe.GetResourceVersion(), 10, 64); perr == nil && got >= want {
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(awaitInterval(time.Since(start)))
	}
}

// awaitInterval is how long await sleeps between looks at the cache, after waiting
// elapsed. The watch brings a write to the cache within a millisecond or two on a
// healthy cluster, and a launch awaits two writes (volume, instance): polling finely at
// first keeps about a millisecond per write off RunInstances, which a doubling
// interval spent oversleeping. A cache that lags is looked at less and less often.
func awaitInterval(elapsed time.Duration) time.Duration {
	switch {
	case elapsed < 5*time.Millisecond:
		return 200 * time.Microsecond
	case elapsed < 50*time.Millisecond:
		return time.Millisecond
	default:
		return 10 * time.Millisecond
	}
}

// Writer is the write side, for handlers.
type Writer interface {
	Create(ctx context.Context, obj client.Object) error
	CreateUnawaited(ctx context.Context, obj client.Object) error
	Await(ctx context.Context, objs ...client.Object)
	Patch(ctx context.Context, obj client.Object, patch client.Patch) error
	Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error
	Direct() client.Client
}
