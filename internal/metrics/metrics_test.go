package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/scheme"
)

func instance(ns, name string, state koalav1.InstanceStateName) *koalav1.Instance {
	return &koalav1.Instance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: koalav1.InstanceStatus{State: state}}
}

func TestInstancesAndVolumesAreCountedByAccountAndState(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(
		instance("team-a", "a1", koalav1.InstanceStateRunning),
		instance("team-a", "a2", koalav1.InstanceStateRunning),
		instance("team-a", "a3", koalav1.InstanceStateStopped),
		instance("team-b", "b1", ""),
		&koalav1.Volume{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "v1"}, Status: koalav1.VolumeStatus{State: koalav1.VolumeStateInUse}},
	).Build()
	want := `
# HELP koala_instances Instances by account namespace and EC2 state.
# TYPE koala_instances gauge
koala_instances{namespace="team-a",state="running"} 2
koala_instances{namespace="team-a",state="stopped"} 1
koala_instances{namespace="team-b",state="pending"} 1
# HELP koala_volumes Volumes by account namespace and EC2 state.
# TYPE koala_volumes gauge
koala_volumes{namespace="team-a",state="in-use"} 1
`
	if err := testutil.CollectAndCompare(NewCollector(c), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
