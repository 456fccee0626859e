package controllers

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

func TestLaunchQuietHoldsBackOnlyAnEndpointLaunchsFirstPendingWrite(t *testing.T) {
	created := t0
	launched := func(mods ...func(base, inst *koalav1.Instance)) (*koalav1.Instance, *koalav1.Instance) {
		base := &koalav1.Instance{ObjectMeta: metav1.ObjectMeta{
			CreationTimestamp: metav1.Time{Time: created},
			Annotations:       map[string]string{koalav1.IDAnnotation: "i-0123456789abcdef0"},
		}}
		inst := base.DeepCopy()
		inst.Status.InstanceID = "i-0123456789abcdef0"
		inst.Status.State = koalav1.InstanceStatePending
		for _, m := range mods {
			m(base, inst)
		}
		return base, inst
	}
	blocked := &metav1.Condition{Reason: koalav1.InstanceReasonImageNotAvailable}
	cases := map[string]struct {
		mods    []func(base, inst *koalav1.Instance)
		blocked *metav1.Condition
		err     error
		now     time.Time
		want    time.Duration
	}{
		"a launch still pending early in the quiet period waits for its end": {
			now: created.Add(3 * time.Second), want: launchQuietPeriod - 3*time.Second,
		},
		"a launch pending past the quiet period is written": {
			now: created.Add(launchQuietPeriod), want: 0,
		},
		"a launch that runs is written at once": {
			mods: []func(base, inst *koalav1.Instance){func(_, inst *koalav1.Instance) { inst.Status.State = koalav1.InstanceStateRunning }},
			now:  created.Add(time.Second), want: 0,
		},
		"a blocked launch is written at once, so that kubectl shows why": {
			blocked: blocked, now: created.Add(time.Second), want: 0,
		},
		"a reconcile that failed is written at once": {
			err: errors.New("boom"), now: created.Add(time.Second), want: 0,
		},
		"an instance made with kubectl (no ID yet) is written at once": {
			mods: []func(base, inst *koalav1.Instance){func(base, inst *koalav1.Instance) {
				delete(base.Annotations, koalav1.IDAnnotation)
				delete(inst.Annotations, koalav1.IDAnnotation)
			}},
			now: created.Add(time.Second), want: 0,
		},
		"an instance whose status was written before is not held back": {
			mods: []func(base, inst *koalav1.Instance){func(base, _ *koalav1.Instance) { base.Status.InstanceID = "i-0123456789abcdef0" }},
			now:  created.Add(time.Second), want: 0,
		},
		"the wait is at least a second (creation times have that resolution)": {
			now: created.Add(launchQuietPeriod - time.Millisecond), want: time.Second,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			base, inst := launched(tc.mods...)
			g.Expect(launchQuiet(base, inst, tc.blocked, tc.err, tc.now)).To(Equal(tc.want))
		})
	}
}

func TestTheFirstLaunchTimeIsTheInstancesCreationAndARestartsIsNow(t *testing.T) {
	g := NewWithT(t)
	st := koalav1.InstanceStatus{}
	setInstanceStatus(&st, instanceObservation{desired: koalav1.DesiredStateRunning, launched: t0, now: t1})
	g.Expect(st.State).To(Equal(koalav1.InstanceStatePending))
	g.Expect(st.LaunchTime.Time).To(Equal(t0))

	st = koalav1.InstanceStatus{State: koalav1.InstanceStateStopped, LaunchTime: &metav1.Time{Time: t0}}
	later := t1.Add(time.Hour)
	setInstanceStatus(&st, instanceObservation{desired: koalav1.DesiredStateRunning, launched: t0, now: later})
	g.Expect(st.LaunchTime.Time).To(Equal(later))
}
