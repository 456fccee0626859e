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
)

// Account is an AWS account: a namespace labelled with its 12-digit ID.
type Account struct {
	ID        string
	Namespace string
}

// indexAccessKeyID indexes access-key Secrets by their key ID.
const indexAccessKeyID = "koala.accessKeyID"

// Store reads Koala objects from a cache and writes them to the API server.
type Store struct {
	cache  cache.Cache
	client client.Client
	// awaitTimeout bounds how long a write waits for the cache to catch up.
	awaitTimeout time.Duration
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
	isAccount, err := labels.NewRequirement(koalav1.AccountIDLabel, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme: opts.Scheme,
		ByObject: map[client.Object]cache.ByObject{
			// Only access-key Secrets and account namespaces are ever read.
			&corev1.Secret{}:    {Label: labels.NewSelector().Add(*hasKey)},
			&corev1.Namespace{}: {Label: labels.NewSelector().Add(*isAccount)},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("building cache: %w", err)
	}
	ctx := context.Background()
	if err := index.Setup(ctx, c); err != nil {
		return nil, err
	}
	if err := c.IndexField(ctx, &corev1.Secret{}, indexAccessKeyID, func(o client.Object) []string {
		if id := string(o.(*corev1.Secret).Data[koalav1.AccessKeyIDKey]); id != "" {
			return []string{id}
		}
		return nil
	}); err != nil {
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
	return &Store{cache: c, client: direct, awaitTimeout: timeout}, nil
}

// Start runs the cache until ctx ends and returns once every informer the store
// uses has synced.
func (s *Store) Start(ctx context.Context) error {
	// Informers start on first use; create each one now, so that they all start and
	// sync with the cache rather than on a client's first request.
	node := &metav1.PartialObjectMetadata{}
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	for _, obj := range []client.Object{&koalav1.Instance{}, &koalav1.Image{}, &koalav1.KeyPair{},
		&corev1.Secret{}, &corev1.Namespace{}, &instancetypev1beta1.VirtualMachineClusterInstancetype{}, node} {
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

// ErrUnknownKey is returned for an access key no account has.
var ErrUnknownKey = errors.New("unknown access key")

// Credentials returns the secret of an access key and the account it belongs to.
func (s *Store) Credentials(ctx context.Context, accessKeyID string) (secret string, acct Account, err error) {
	var secrets corev1.SecretList
	if err := s.cache.List(ctx, &secrets, client.MatchingFields{indexAccessKeyID: accessKeyID}); err != nil {
		return "", Account{}, fmt.Errorf("looking up access key: %w", err)
	}
	for i := range secrets.Items {
		sec := &secrets.Items[i]
		ns := &corev1.Namespace{}
		if err := s.cache.Get(ctx, client.ObjectKey{Name: sec.Namespace}, ns); err != nil {
			if apierrors.IsNotFound(err) {
				continue // the namespace is not (or no longer) an account
			}
			return "", Account{}, err
		}
		if !ns.DeletionTimestamp.IsZero() {
			continue
		}
		return string(sec.Data[koalav1.SecretAccessKeyKey]), Account{ID: ns.Labels[koalav1.AccountIDLabel], Namespace: ns.Name}, nil
	}
	return "", Account{}, ErrUnknownKey
}

// Reader is the read side, for handlers: the cache. Objects it returns from List with
// UnsafeDisableDeepCopy are shared and must not be modified.
func (s *Store) Reader() client.Reader { return s.cache }

// Create writes a new object and waits until the cache has it.
func (s *Store) Create(ctx context.Context, obj client.Object) error {
	if err := s.client.Create(ctx, obj); err != nil {
		return err
	}
	s.await(ctx, obj, false)
	return nil
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
	deadline := time.Now().Add(s.awaitTimeout)
	wait := 500 * time.Microsecond
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
		time.Sleep(wait)
		if wait < 10*time.Millisecond {
			wait *= 2
		}
	}
}

// Writer is the write side, for handlers.
type Writer interface {
	Create(ctx context.Context, obj client.Object) error
	Patch(ctx context.Context, obj client.Object, patch client.Patch) error
	Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error
	Direct() client.Client
}
