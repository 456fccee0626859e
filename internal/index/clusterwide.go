package index

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clusterWide are the indexes the operator keeps across namespaces only. Their values
// name one object or a few (an EC2 ID, the instance a volume is attached to), so an
// entry costs a set of its own, some 250 bytes; a controller-runtime index keeps each
// value of a namespaced object twice, in its namespace and across namespaces: an
// instance's ID and its root volume's ID and attachment would be six such entries. A
// namespaced lookup by one of them lists across namespaces and keeps the namespace's
// objects (ClusterWideLookups): a few objects at most.
var clusterWide = map[string]bool{EC2ID: true, VolumeInstanceID: true}

// The names under which controller-runtime's cache reader looks an index and its
// cluster-wide values up (its internal FieldIndexName and KeyToNamespacedKey). The
// controllers' envtest suites look objects up by each of the clusterWide indexes and
// would find nothing if these changed.
const (
	fieldIndexPrefix    = "field:"
	allNamespacesPrefix = "__all_namespaces/"
)

// informerSource is the part of a cache.Cache that hands out its informers.
type informerSource interface {
	GetInformer(ctx context.Context, obj client.Object, opts ...cache.InformerGetOption) (cache.Informer, error)
}

// indexClusterWide registers the index field of obj's kind with its values only under
// their cluster-wide keys, where a namespace-less MatchingFields lookup finds them.
func indexClusterWide(ctx context.Context, informers informerSource, obj client.Object, field string, extract client.IndexerFunc) error {
	inf, err := informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{fieldIndexPrefix + field: func(raw any) ([]string, error) {
		o, ok := raw.(client.Object)
		if !ok {
			return nil, fmt.Errorf("indexing %s: %T is not an object", field, raw)
		}
		vals := extract(o)
		keys := make([]string, len(vals))
		for i, v := range vals {
			keys[i] = allNamespacesPrefix + v
		}
		return keys, nil
	}})
}

// ClusterWideLookups is c with its namespaced lookups by the operator's cluster-wide
// indexes made across namespaces, keeping the objects of the namespace asked for: the
// operator's caches (Setup with Operator) hold no namespaced values for these indexes.
func ClusterWideLookups(c client.Client) client.Client { return lookupClient{c} }

type lookupClient struct{ client.Client }

func (c lookupClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if o.Namespace == "" || o.FieldSelector == nil || !byClusterWideIndex(o) {
		return c.Client.List(ctx, list, opts...)
	}
	ns := o.Namespace
	o.Namespace = ""
	if err := c.Client.List(ctx, list, o); err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return fmt.Errorf("filtering %T by namespace: %w", list, err)
	}
	kept := make([]runtime.Object, 0, len(items))
	for _, item := range items {
		if obj, ok := item.(client.Object); ok && obj.GetNamespace() == ns {
			kept = append(kept, item)
		}
	}
	return meta.SetList(list, kept)
}

func byClusterWideIndex(o *client.ListOptions) bool {
	for _, r := range o.FieldSelector.Requirements() {
		if clusterWide[r.Field] {
			return true
		}
	}
	return false
}
