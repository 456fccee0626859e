package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/controllers"
	"github.com/koala-dev/koala/internal/blockdevice"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/zones"
)

// apiWrite is one write request the operator sent to the API server.
type apiWrite struct {
	method, path string
	// body is the request's body, kept for writes outside any namespace (a claim names
	// its holder's namespace only there).
	body string
}

// writeRecorder records the operator's write requests (anything but GET), as its
// rest_client_requests_total counts them.
type writeRecorder struct {
	mu     sync.Mutex
	writes []apiWrite
}

var operatorWrites = &writeRecorder{}

func (w *writeRecorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			rec := apiWrite{method: req.Method, path: req.URL.Path}
			if !strings.Contains(req.URL.Path, "/namespaces/") && req.GetBody != nil {
				if body, err := req.GetBody(); err == nil {
					b, _ := io.ReadAll(io.LimitReader(body, 1<<16))
					_ = body.Close()
					rec.body = string(b)
				}
			}
			w.mu.Lock()
			w.writes = append(w.writes, rec)
			w.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

// of returns the writes about namespace ns: to its objects, or naming it.
func (w *writeRecorder) of(ns string) []apiWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []apiWrite
	for _, r := range w.writes {
		if strings.Contains(r.path, "/namespaces/"+ns+"/") || strings.Contains(r.body, `"namespace":"`+ns+`"`) {
			out = append(out, r)
		}
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// writeKind is a write's verb and resource, with the namespace and object name left
// out: "PATCH instances/status".
func writeKind(r apiWrite) string {
	parts := strings.Split(strings.Trim(r.path, "/"), "/")
	if i := slices.Index(parts, "namespaces"); i >= 0 && i+2 < len(parts) {
		parts = parts[i+2:]
	} else if len(parts) > 0 {
		parts = parts[len(parts)-1:]
		if r.method != http.MethodPost {
			parts = nil
		}
	}
	if len(parts) >= 3 {
		parts = append(parts[:1], parts[2:]...) // drop the object's name
	}
	return r.method + " " + strings.Join(parts, "/")
}

// launchAsTheEndpointDoes does what RunInstances does for a launch of n instances from
// img in the account of ns (see launchOne and createLaunchVolumes in
// internal/ec2/handlers/instances): one reservation; for each instance, its address
// claimed on the default subnet of its zone, its root volume created with its ID and
// finalizer, then the instance with its ID, reservation, launch index, finalizer,
// subnet, groups and address.
func launchAsTheEndpointDoes(t *testing.T, g Gomega, ns string, img *koalav1.Image, n int) []*koalav1.Instance {
	t.Helper()
	ctx := context.Background()
	reservation := ids.New(ids.Reservation)
	nodes := &metav1.PartialObjectMetadataList{}
	nodes.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NodeList"))
	g.Expect(k8s.List(ctx, nodes)).To(Succeed())
	var labels []map[string]string
	for _, node := range nodes.Items {
		labels = append(labels, node.Labels)
	}
	zone, _ := zones.Assign("test-1", labels, reservation)

	var sub *koalav1.Subnet
	var vpc *koalav1.Network
	g.Eventually(func(g Gomega) {
		var subnets koalav1.SubnetList
		g.Expect(k8s.List(ctx, &subnets, client.InNamespace(ns))).To(Succeed())
		sub = nil
		for i := range subnets.Items {
			if s := &subnets.Items[i]; s.Spec.DefaultForAZ && s.Zone() == zone && s.Status.State == koalav1.NetworkStateAvailable {
				sub = s
			}
		}
		g.Expect(sub).NotTo(BeNil(), "the default subnet of %s", zone)
		var vpcs koalav1.NetworkList
		g.Expect(k8s.List(ctx, &vpcs, client.InNamespace(ns))).To(Succeed())
		vpc = nil
		for i := range vpcs.Items {
			if v := &vpcs.Items[i]; v.EC2ID() == sub.Spec.VPCID && v.Status.DefaultSecurityGroupID != "" {
				vpc = v
			}
		}
		g.Expect(vpc).NotTo(BeNil(), "the default VPC with its default group")
	}, timeout).Should(Succeed())
	space, err := ipam.ParseSubnet(sub.Spec.CIDRBlock)
	g.Expect(err).NotTo(HaveOccurred())
	alloc := &ipam.Allocator{Cache: k8s, Client: k8s}

	out := make([]*koalav1.Instance, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			id := ids.New(ids.Instance)
			inst := &koalav1.Instance{
				ObjectMeta: metav1.ObjectMeta{
					Name: id, Namespace: ns, Finalizers: []string{controllers.InstanceFinalizer},
					Annotations: map[string]string{
						koalav1.IDAnnotation:            id,
						koalav1.ReservationIDAnnotation: reservation,
						koalav1.LaunchIndexAnnotation:   strconv.Itoa(i),
						koalav1.LaunchCountAnnotation:   strconv.Itoa(n),
					},
				},
				Spec: koalav1.InstanceSpec{
					ImageID: img.Status.ImageID, InstanceType: "t3.micro", State: koalav1.DesiredStateRunning,
					Placement: koalav1.Placement{AvailabilityZone: sub.Zone()},
					SubnetID:  sub.EC2ID(), SecurityGroupIDs: []string{vpc.Status.DefaultSecurityGroupID},
				},
			}
			address, err := alloc.Allocate(ctx, ipam.Request{
				Type: koalav1.ClaimPrivateAddress, Scope: sub.EC2ID(), Space: space,
				Holder: koalav1.ClaimHolder{Namespace: ns, Name: id, ID: id},
			})
			if err != nil {
				errs[i] = err
				return
			}
			inst.Spec.PrivateIPAddress = address
			vols, err := blockdevice.LaunchVolumes(blockdevice.Launch{Instance: inst, InstanceID: id, Zone: zone, Image: img})
			if err != nil {
				errs[i] = err
				return
			}
			for _, v := range vols {
				v.Annotations = map[string]string{koalav1.IDAnnotation: ids.New(ids.Volume)}
				v.Finalizers = []string{controllers.VolumeFinalizer}
				if err := k8s.Create(ctx, v); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = k8s.Create(ctx, inst)
			out[i] = inst
		})
	}
	wg.Wait()
	for _, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	return out
}

// A launch through the EC2 endpoint costs the operator at most three writes per
// instance: the VirtualMachine, one status of the instance (running, with its address
// and zone), one status of its root volume (in use, attached). Everything else the
// launch shows (pending, the volume creating or attaching) the endpoint shows from the
// objects' specs; each further write is a round trip under load and an event more for
// every watcher at 10,000 instances. The guests here start in a moment, but the
// operator's clock says minutes have passed, as on a busy cluster where a batch's
// guests start one after the other.
func TestAnEndpointLaunchCostsTheOperatorAtMostThreeWritesPerInstance(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	acct := readyAccount(t, g, koalav1.AccountSpec{})
	ns := acct.Status.Namespace
	img := availableImage(t, g, ns)
	const n = 20
	operatorClock.offset.Store(int64(10 * time.Minute))
	t.Cleanup(func() { operatorClock.offset.Store(0) })
	before := len(operatorWrites.of(ns))
	reconcilesBefore := reconciles(t)
	insts := launchAsTheEndpointDoes(t, g, ns, img, n)

	g.Eventually(func(g Gomega) {
		for _, inst := range insts {
			get(g, inst)
			g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning), inst.Name)
			g.Expect(inst.Status.PrivateIPAddress).To(Equal(inst.Spec.PrivateIPAddress))
			g.Expect(inst.Status.LaunchTime.Time).To(BeTemporally("==", inst.CreationTimestamp.Time))
			root := &koalav1.Volume{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: blockdevice.RootVolumeName(inst.Name)}, root)).To(Succeed())
			g.Expect(root.Status.State).To(Equal(koalav1.VolumeStateInUse), root.Name)
			g.Expect(root.Status.Attachments).To(HaveLen(1))
			g.Expect(root.Status.Attachments[0].State).To(Equal(koalav1.AttachmentStateAttached))
		}
	}, 2*timeout, 200*time.Millisecond).Should(Succeed())
	// Writes that follow the last one a user can see would still count: give them the
	// time to happen (a count, not a timing).
	time.Sleep(3 * time.Second)

	after := reconciles(t)
	t.Logf("reconciles per launch (the whole operator's, for the record): instance %.2f, volume %.2f",
		(after["instance"]-reconcilesBefore["instance"])/n, (after["volume"]-reconcilesBefore["volume"])/n)

	// The subnet's count of free addresses is the one shared object a launch changes;
	// its writes are coalesced (one per subnet every few seconds, whatever the number
	// of launches), so they are counted apart.
	var own, shared []apiWrite
	for _, w := range operatorWrites.of(ns)[before:] {
		if strings.Contains(w.path, "/subnets/") {
			shared = append(shared, w)
		} else {
			own = append(own, w)
		}
	}
	byKind := map[string]int{}
	for _, w := range own {
		byKind[writeKind(w)]++
	}
	var report bytes.Buffer
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&report, "  %-40s %5.2f per instance\n", k, float64(byKind[k])/n)
	}
	t.Logf("the operator's writes for %d launches: %.2f per instance, and %d of the subnet\n%s", n, float64(len(own))/n, len(shared), report.String())
	g.Expect(float64(len(own))/n).To(BeNumerically("<=", 3), "writes per launched instance:\n%s", report.String())
	g.Expect(len(shared)).To(BeNumerically("<=", 2), "writes of the subnet's free address count")
}

// skewClock is the real clock moved ahead by an offset a test sets: an instance that
// was created a moment ago looks minutes old to the operator, as on a busy cluster.
type skewClock struct{ offset atomic.Int64 }

func (c *skewClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *skewClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// operatorClock is the instance reconciler's clock in this suite.
var operatorClock = &skewClock{}

// reconciles reads controller-runtime's count of reconciles by controller.
func reconciles(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
