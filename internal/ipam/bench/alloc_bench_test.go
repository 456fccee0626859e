// Package bench measures the private address allocation of instances against a real
// API server: each address is a NetworkClaim that the API server must accept, so its
// cost is the cost of a launch's address.
package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/testenv"
)

var (
	direct client.Client
	reader client.Reader
)

// TestMain starts the API server only when benchmarks run: `go test ./internal/...`
// (the unit tests) finds nothing to do here.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if direct, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The operator's and the endpoint's allocators probe an informer cache of claims.
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.GetInformer(ctx, &koalav1.NetworkClaim{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "the claim cache did not sync")
		return 1
	}
	reader = c
	return m.Run()
}

// BenchmarkSubnetAddressPerInstance allocates the addresses of n instances, one after
// the other, in one /20 subnet (the size of a default subnet) that starts empty, and
// reports the median and 99th percentile time of one allocation: the time per
// instance must not grow with the number of instances already in the subnet.
func BenchmarkSubnetAddressPerInstance(b *testing.B) {
	space, err := ipam.ParseSubnet("10.1.0.0/20")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			ctx := context.Background()
			var took []time.Duration
			round := 0
			for b.Loop() {
				round++
				// A fresh subnet each round, so that every round fills it from empty.
				scope := fmt.Sprintf("subnet-%017x", time.Now().UnixNano()+int64(round))
				alloc := &ipam.Allocator{Cache: reader, Client: direct}
				for i := range n {
					id := fmt.Sprintf("i-%017x", i)
					start := time.Now()
					if _, err := alloc.Allocate(ctx, ipam.Request{Type: koalav1.ClaimPrivateAddress, Scope: scope, Space: space,
						Holder: koalav1.ClaimHolder{Namespace: "bench", Name: id, ID: id}}); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "µs/alloc-p50")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "µs/alloc-p99")
		})
	}
}
