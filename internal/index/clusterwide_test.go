package index_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/testenv"
)

// TestTheOperatorsLookupsByIDFindTheirNamespacesObjects runs the operator's indexes in
// a real cache: its lookups by ID, in a namespace or across namespaces, find what a
// controller-runtime index would, though the cache holds each ID once. Two accounts
// hold a volume of the same ID (a restored backup, or IDs chosen by hand).
func TestTheOperatorsLookupsByIDFindTheirNamespacesObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server")
	}
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	direct, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"acct-a", "acct-b"} {
		if err := direct.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		vol := &koalav1.Volume{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns, Annotations: map[string]string{koalav1.IDAnnotation: "vol-0123456789abcdef0"}},
			Spec: koalav1.VolumeSpec{
				AvailabilityZone: "koala-1a", Size: 1, SnapshotID: "snap-0123456789abcdef0",
				Attachment: &koalav1.VolumeAttachment{InstanceID: "i-0123456789abcdef0", Device: "/dev/sdf"},
			},
		}
		if err := direct.Create(ctx, vol); err != nil {
			t.Fatal(err)
		}
	}

	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Setup(ctx, c, index.Operator); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	cached, err := client.New(env.Config, client.Options{Scheme: env.Scheme, Cache: &client.CacheOptions{Reader: c}})
	if err != nil {
		t.Fatal(err)
	}
	lookups := index.ClusterWideLookups(cached)

	namespacesOf := func(opts ...client.ListOption) []string {
		t.Helper()
		var list koalav1.VolumeList
		if err := lookups.List(ctx, &list, opts...); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range list.Items {
			out = append(out, v.Namespace)
		}
		return out
	}
	// The cache fills from its watch: wait until both volumes are in.
	deadline := time.Now().Add(30 * time.Second)
	for len(namespacesOf(client.MatchingFields{index.EC2ID: "vol-0123456789abcdef0"})) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for name, tc := range map[string]struct {
		opts []client.ListOption
		want []string
	}{
		"by ID across namespaces":   {[]client.ListOption{client.MatchingFields{index.EC2ID: "vol-0123456789abcdef0"}}, []string{"acct-a", "acct-b"}},
		"by ID in a namespace":      {[]client.ListOption{client.InNamespace("acct-b"), client.MatchingFields{index.EC2ID: "vol-0123456789abcdef0"}}, []string{"acct-b"}},
		"by instance, in namespace": {[]client.ListOption{client.InNamespace("acct-a"), client.MatchingFields{index.VolumeInstanceID: "i-0123456789abcdef0"}}, []string{"acct-a"}},
		"by an ID no one holds":     {[]client.ListOption{client.InNamespace("acct-a"), client.MatchingFields{index.EC2ID: "vol-0000000000000000f"}}, nil},
		// An index kept in both ways, as controller-runtime keeps it.
		"by snapshot, in namespace": {[]client.ListOption{client.InNamespace("acct-b"), client.MatchingFields{index.SnapshotID: "snap-0123456789abcdef0"}}, []string{"acct-b"}},
	} {
		got := namespacesOf(tc.opts...)
		if len(got) != len(tc.want) || (len(got) == 2 && got[0] == got[1]) || (len(got) == 1 && got[0] != tc.want[0]) {
			t.Errorf("%s: volumes of namespaces %v, want %v", name, got, tc.want)
		}
	}

	// What ClusterWideLookups is for: the cache holds no namespaced values of these.
	var direct2 koalav1.VolumeList
	if err := cached.List(ctx, &direct2, client.InNamespace("acct-a"), client.MatchingFields{index.EC2ID: "vol-0123456789abcdef0"}); err != nil {
		t.Fatal(err)
	}
	if len(direct2.Items) != 0 {
		t.Errorf("a namespaced lookup without ClusterWideLookups found %d volumes: the index keeps namespaced values again, drop ClusterWideLookups", len(direct2.Items))
	}
}
