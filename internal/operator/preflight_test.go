package operator

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
)

// discoveryServing is a fake discovery that serves the given resources by group version.
func discoveryServing(served map[string][]string) *fakediscovery.FakeDiscovery {
	d := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	for gv, names := range served {
		list := &metav1.APIResourceList{GroupVersion: gv}
		for _, n := range names {
			list.APIResources = append(list.APIResources, metav1.APIResource{Name: n})
		}
		d.Resources = append(d.Resources, list)
	}
	return d
}

func TestMissingPrerequisites(t *testing.T) {
	everything := map[string][]string{
		"kubevirt.io/v1":                   {"virtualmachines", "virtualmachineinstances"},
		"instancetype.kubevirt.io/v1beta1": {"virtualmachineclusterinstancetypes"},
		"cdi.kubevirt.io/v1beta1":          {"datavolumes", "datasources"},
		"snapshot.storage.k8s.io/v1":       {"volumesnapshots"},
		"k8s.cni.cncf.io/v1":               {"network-attachment-definitions"},
		"k8s.cni.cncf.io/v1beta1":          {"multi-networkpolicies"},
	}
	without := func(gv string, keep ...string) map[string][]string {
		out := map[string][]string{}
		for k, v := range everything {
			if k == gv {
				if len(keep) > 0 {
					out[k] = keep
				}
				continue
			}
			out[k] = v
		}
		return out
	}
	cases := map[string]struct {
		served map[string][]string
		want   []string
	}{
		"nothing is missing when every resource is served": {everything, nil},
		"a group version not served at all makes each of its resources missing": {
			without("cdi.kubevirt.io/v1beta1"), []string{"datavolumes.cdi.kubevirt.io/v1beta1", "datasources.cdi.kubevirt.io/v1beta1"}},
		"a group version served without one resource makes that one missing": {
			without("kubevirt.io/v1", "virtualmachines"), []string{"virtualmachineinstances.kubevirt.io/v1"}},
		"Multus alone missing is Multus": {
			without("k8s.cni.cncf.io/v1"), []string{"network-attachment-definitions.k8s.cni.cncf.io/v1"}},
		// Multus' two CRDs come from two projects and may be installed apart; security
		// groups need the second.
		"attachments without multi-network policies are not enough": {
			without("k8s.cni.cncf.io/v1beta1"), []string{"multi-networkpolicies.k8s.cni.cncf.io/v1beta1"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			missing, err := MissingPrerequisites(discoveryServing(tc.served), DefaultPrerequisites())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range missing {
				got = append(got, m.String())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("missing %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("a discovery failure other than not found is an error, not a missing CRD", func(t *testing.T) {
		d := discoveryServing(everything)
		d.PrependReactor("get", "resource", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("connection refused")
		})
		if _, err := MissingPrerequisites(d, DefaultPrerequisites()); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("got %v, want the discovery error", err)
		}
	})
}

func TestDescribeMissingGroupsByComponentInAStableOrder(t *testing.T) {
	got := describeMissing([]Prerequisite{
		{Component: "Multus", GroupVersion: "k8s.cni.cncf.io/v1", Resource: "network-attachment-definitions"},
		{Component: "KubeVirt", GroupVersion: "kubevirt.io/v1", Resource: "virtualmachines"},
		{Component: "KubeVirt", GroupVersion: "kubevirt.io/v1", Resource: "virtualmachineinstances"},
	})
	want := "KubeVirt (virtualmachines.kubevirt.io/v1, virtualmachineinstances.kubevirt.io/v1), Multus (network-attachment-definitions.k8s.cni.cncf.io/v1)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStatusReporterWritesEachChangeOnceAndRecordsAnEvent(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: DefaultStatusConfigMap, Namespace: "koala-system"}}
	cs := fake.NewClientset(cm)
	recorder := events.NewFakeRecorder(10)
	r := &statusReporter{client: cs, key: types.NamespacedName{Namespace: "koala-system", Name: DefaultStatusConfigMap},
		recorder: recorder, log: logr.Discard()}
	patches := func() int {
		n := 0
		for _, a := range cs.Actions() {
			if a.GetVerb() == "patch" {
				n++
			}
		}
		return n
	}
	read := func() *metav1.Condition {
		got, err := cs.CoreV1().ConfigMaps("koala-system").Get(ctx, DefaultStatusConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, err := ReadStatus(got)
		if err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(conds, PrerequisitesCondition)
	}

	missing := metav1.Condition{Type: PrerequisitesCondition, Status: metav1.ConditionFalse, Reason: ReasonPrerequisitesMissing, Message: "install Multus"}
	r.report(ctx, missing)
	r.report(ctx, missing) // the next poll finds the same
	if n := patches(); n != 1 {
		t.Errorf("%d patches for one change, want 1", n)
	}
	if c := read(); c == nil || c.Status != metav1.ConditionFalse || c.Message != "install Multus" {
		t.Errorf("the ConfigMap holds %+v", c)
	}
	if e := <-recorder.Events; !strings.HasPrefix(e, "Warning PrerequisitesMissing install Multus") {
		t.Errorf("event %q", e)
	}
	if len(recorder.Events) != 0 {
		t.Error("the same condition was recorded twice")
	}

	r.report(ctx, metav1.Condition{Type: PrerequisitesCondition, Status: metav1.ConditionTrue, Reason: ReasonPrerequisitesFound, Message: "all there"})
	if c := read(); c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonPrerequisitesFound {
		t.Errorf("the ConfigMap holds %+v", c)
	}
	if e := <-recorder.Events; !strings.HasPrefix(e, "Normal PrerequisitesFound") {
		t.Errorf("event %q", e)
	}
}

func TestStatusReporterWithoutItsConfigMapStillRecordsTheEvent(t *testing.T) {
	recorder := events.NewFakeRecorder(10)
	r := &statusReporter{client: fake.NewClientset(), key: types.NamespacedName{Namespace: "koala-system", Name: DefaultStatusConfigMap},
		recorder: recorder, log: logr.Discard()}
	r.report(context.Background(), metav1.Condition{Type: PrerequisitesCondition, Status: metav1.ConditionFalse, Reason: ReasonPrerequisitesMissing, Message: "install KubeVirt"})
	if len(recorder.Events) != 1 {
		t.Fatalf("%d events, want 1", len(recorder.Events))
	}
	if !r.warned {
		t.Error("the missing ConfigMap was not logged")
	}
}
