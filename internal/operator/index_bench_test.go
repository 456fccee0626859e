package operator

import (
	"context"
	"encoding/json"
	"maps"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/scheme"
)

// BenchmarkOperatorIndexBytesPerInstance reports the heap that the operator cache's
// stores and field indexes hold per running instance for its Koala objects (the
// instance, its root volume and its address claim), beyond the objects themselves:
// controller-runtime's informers with the operator's indexes (index.Setup), filled as
// a watch would fill them. The informers are never started: no API server is needed.
func BenchmarkOperatorIndexBytesPerInstance(b *testing.B) {
	s := scheme.New()
	mapper := meta.NewDefaultRESTMapper(nil)
	indexed := map[string]client.Object{
		"instance.json": &koalav1.Instance{}, "volume.json": &koalav1.Volume{}, "claim.json": &koalav1.NetworkClaim{},
	}
	for _, obj := range []client.Object{&koalav1.Instance{}, &koalav1.Image{}, &koalav1.KeyPair{}, &koalav1.Volume{},
		&koalav1.Snapshot{}, &koalav1.Network{}, &koalav1.Subnet{}, &koalav1.SecurityGroup{}, &koalav1.Address{}} {
		gvk, err := apiutil.GVKForObject(obj, s)
		if err != nil {
			b.Fatal(err)
		}
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	for _, obj := range []client.Object{&koalav1.NetworkClaim{}, &koalav1.Account{}, &koalav1.AccessKey{}} {
		gvk, err := apiutil.GVKForObject(obj, s)
		if err != nil {
			b.Fatal(err)
		}
		mapper.Add(gvk, meta.RESTScopeRoot)
	}
	ctx := context.Background()
	c, err := cache.New(&rest.Config{Host: "https://127.0.0.1:1"}, cache.Options{Scheme: s, Mapper: mapper})
	if err != nil {
		b.Fatal(err)
	}
	if err := index.Setup(ctx, c, index.Operator); err != nil {
		b.Fatal(err)
	}
	stores := map[string]toolscache.Indexer{}
	for name, obj := range indexed {
		inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			b.Fatal(err)
		}
		stores[name] = inf.(toolscache.SharedIndexInformer).GetIndexer()
	}

	files := instanceFiles(b, maps.Keys(indexed))
	objs := make([]map[string]client.Object, b.N)
	for n := range objs {
		objs[n] = map[string]client.Object{}
		for name, text := range nthInstance(files, n) {
			if _, ok := indexed[name]; !ok {
				continue
			}
			obj := indexed[name].DeepCopyObject().(client.Object)
			if err := json.Unmarshal([]byte(text), obj); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			objs[n][name] = obj
		}
	}
	reportHeapPerInstance(b, func() {
		for n := 0; n < b.N; n++ {
			for name, obj := range objs[n] {
				if err := stores[name].Add(obj); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	runtime.KeepAlive(stores)
	runtime.KeepAlive(objs) // decoded before the first reading: not counted
}
