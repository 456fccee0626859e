package ipam

import (
	"context"
	"errors"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/scheme"
)

// staleCache is a cache that never catches up: it has seen no claim at all, as a
// replica's cache right after another replica allocated.
type staleCache struct{ client.Reader }

func (staleCache) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: "cloud.koala.dev", Resource: "networkclaims"}, "")
}

func holder(name string) koalav1.ClaimHolder {
	return koalav1.ClaimHolder{Namespace: "acct", Name: name, ID: "i-" + name}
}

func subnetRequest(t *testing.T, cidr, who string) Request {
	t.Helper()
	s, err := ParseSubnet(cidr)
	if err != nil {
		t.Fatal(err)
	}
	return Request{Type: koalav1.ClaimPrivateAddress, Scope: "subnet-0123456789abcdef0", Space: s, Holder: holder(who)}
}

func TestAllocatorFillsASlash28AndThenSaysItIsExhausted(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	a := &Allocator{Cache: c, Client: c}
	seen := map[string]bool{}
	for i := 0; i < 11; i++ {
		ip, err := a.Allocate(context.Background(), subnetRequest(t, "10.0.1.0/28", "web"))
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		if seen[ip] {
			t.Fatalf("%s handed out twice", ip)
		}
		seen[ip] = true
	}
	if _, err := a.Allocate(context.Background(), subnetRequest(t, "10.0.1.0/28", "web")); !errors.Is(err, ErrExhausted) {
		t.Fatalf("the 12th allocation in a /28 answered %v, want ErrExhausted", err)
	}
	for _, reserved := range []string{"10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.15"} {
		if seen[reserved] {
			t.Errorf("the reserved address %s was handed out", reserved)
		}
	}
}

func TestReplicasWithStaleCachesNeverHandOutAnAddressTwice(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	// Four replicas, none of whose caches has seen any claim: only the API server's
	// refusal of a second claim of the same name keeps them apart.
	replicas := make([]*Allocator, 4)
	for i := range replicas {
		replicas[i] = &Allocator{Cache: staleCache{}, Client: c}
	}
	const n = 200
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], errs[i] = replicas[i%len(replicas)].Allocate(context.Background(), subnetRequest(t, "10.0.0.0/24", "i"+string(rune('a'+i%26))))
		}(i)
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("allocation %d: %v", i, errs[i])
		}
		if seen[got[i]] {
			t.Fatalf("%s handed out twice", got[i])
		}
		seen[got[i]] = true
	}
}

func TestAskingForAnAddressHoldsItOrSaysWhoHasIt(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	a := &Allocator{Cache: c, Client: c}
	ctx := context.Background()
	req := subnetRequest(t, "10.0.1.0/24", "web")
	req.Value = "10.0.1.10"
	if _, err := a.Allocate(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate(ctx, req); err != nil {
		t.Fatalf("asking again for the address one holds answered %v", err)
	}
	other := subnetRequest(t, "10.0.1.0/24", "db")
	other.Value = "10.0.1.10"
	var inUse *InUseError
	if _, err := a.Allocate(ctx, other); !errors.As(err, &inUse) || inUse.Holder.Name != "web" {
		t.Fatalf("another holder asking for a held address answered %v, want an InUseError naming web", err)
	}
	other.Value = "10.0.1.3"
	if _, err := a.Allocate(ctx, other); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("asking for a reserved address answered %v, want ErrOutOfRange", err)
	}
}

func TestReleaseFreesOnlyTheHoldersClaim(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	a := &Allocator{Cache: c, Client: c}
	ctx := context.Background()
	req := subnetRequest(t, "10.0.1.0/24", "web")
	req.Value = "10.0.1.10"
	if _, err := a.Allocate(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, req.Type, req.Scope, req.Value, holder("db")); err != nil {
		t.Fatal(err)
	}
	if h, _ := a.Holder(ctx, req.Type, req.Scope, req.Value); h == nil || h.Name != "web" {
		t.Fatalf("a release by another holder removed the claim (holder now %v)", h)
	}
	if err := a.Release(ctx, req.Type, req.Scope, req.Value, holder("web")); err != nil {
		t.Fatal(err)
	}
	if h, _ := a.Holder(ctx, req.Type, req.Scope, req.Value); h != nil {
		t.Fatalf("the holder's release left the claim of %v", h)
	}
	other := subnetRequest(t, "10.0.1.0/24", "db")
	other.Value = "10.0.1.10"
	if _, err := a.Allocate(ctx, other); err != nil {
		t.Fatalf("a released address could not be taken again: %v", err)
	}
}
