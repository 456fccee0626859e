package controllers

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/scheme"
	"github.com/koala-dev/koala/internal/testgen"
)

func TestALaunchVolumeTheCacheHasNotSeenIsReadFromTheAPIServerNotCreatedAgain(t *testing.T) {
	// The endpoint makes a launch's root volume before its instance; the operator's
	// volume informer may not have it when the instance's event comes. Creating it
	// again would be refused, but it is a write all the same.
	const id = "i-0123456789abcdef0"
	inst := testgen.Instance(id, "acct-a", "ami-0123456789abcdef0", testgen.WithZone("zone-a"))
	img := &koalav1.Image{Spec: koalav1.ImageSpec{RootDeviceName: "/dev/xvda", RootVolumeSize: 8}}
	vols, err := blockdevice.LaunchVolumes(blockdevice.Launch{Instance: inst, InstanceID: id, Zone: "zone-a", Image: img})
	if err != nil || len(vols) != 1 {
		t.Fatalf("launch volumes %v, %v; want the root volume", vols, err)
	}
	s := scheme.New()
	live := fake.NewClientBuilder().WithScheme(s).WithObjects(vols[0]).Build()
	creates := 0
	cache := fake.NewClientBuilder().WithScheme(s).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			creates++
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
	r := &InstanceReconciler{Client: cache, APIReader: live}
	sc := &instanceScope{instance: inst, id: id, placed: placeVolumes(inst, id, nil)}

	root, blocked, err := r.ensureLaunchVolumes(context.Background(), sc, img)
	if err != nil || blocked != nil {
		t.Fatalf("error %v, blocked %v", err, blocked)
	}
	if creates != 0 {
		t.Errorf("%d creates of a volume the API server has, want none", creates)
	}
	if root != nil {
		t.Errorf("the root volume %s was returned before the cache had it; want a wait for its event", root.Name)
	}
}
