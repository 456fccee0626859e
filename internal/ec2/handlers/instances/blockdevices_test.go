package instances

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/testgen"
)

// launchStore knows one image and records the volumes a launch creates.
type launchStore struct {
	listStore
	image   *koalav1.Image
	created []*koalav1.Volume
}

func (s *launchStore) Image(context.Context, store.Account, string) (*koalav1.Image, error) {
	return s.image, nil
}

func (s *launchStore) NodeLabels(context.Context) ([]map[string]string, error) {
	return []map[string]string{
		{"topology.kubernetes.io/zone": "koala-1a"},
		{"topology.kubernetes.io/zone": "koala-1b"},
	}, nil
}

func (s *launchStore) CreateUnawaited(_ context.Context, obj client.Object) error {
	s.created = append(s.created, obj.(*koalav1.Volume))
	return nil
}

// A launch into a fresh account's default VPC whose endpoint knows only one of its
// default subnets yet puts the instance in that subnet's zone, whatever zone the
// reservation would have been assigned: its volumes must be made in the same zone,
// or the instance and its root volume end up in two zones.
func TestLaunchVolumesAreMadeInTheZoneTheLaunchPutTheInstanceIn(t *testing.T) {
	g := NewWithT(t)
	img := testgen.Image("img", "demo")
	img.Status.ImageID = ids.New(ids.Image)
	s := &launchStore{image: img}
	h := &Handlers{Store: s, Region: "koala-1", Now: time.Now}
	call := &action.Call{Account: store.Account{ID: "123456789012", Namespace: "demo"}}
	id := ids.New(ids.Instance)
	for _, zone := range []string{"koala-1a", "koala-1b"} {
		s.created = nil
		inst := &koalav1.Instance{}
		inst.Name, inst.Namespace = id, "demo"
		inst.Annotations = map[string]string{koalav1.IDAnnotation: id}
		inst.Spec.ImageID = img.Status.ImageID
		inst.Spec.Placement.AvailabilityZone = zone // as the subnet decided; no zone asked for
		vols, err := h.createLaunchVolumes(context.Background(), call, runInput{imageID: img.Status.ImageID}, inst, ids.New(ids.Reservation), 0)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(vols).To(HaveLen(1))
		g.Expect(s.created).To(HaveLen(1))
		g.Expect(s.created[0].Spec.AvailabilityZone).To(Equal(zone), "the root volume of an instance in %s", zone)
	}
}
