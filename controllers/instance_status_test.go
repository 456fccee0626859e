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
	launched := func(mods ...func(base, inst *koalav1.Instance)) (*koalav1.Instance, *koalav1.Instance) {
		base := &koalav1.Instance{ObjectMeta: metav1.ObjectMeta{
			CreationTimestamp: metav1.Time{Time: t0},
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
		want    bool
	}{
		"a launch still pending waits, however long it takes": {want: true},
		"a launch that runs is written at once": {
			mods: []func(base, inst *koalav1.Instance){func(_, inst *koalav1.Instance) { inst.Status.State = koalav1.InstanceStateRunning }},
		},
		"a launch asked to stop is written at once": {
			mods: []func(base, inst *koalav1.Instance){func(_, inst *koalav1.Instance) { inst.Status.State = koalav1.InstanceStateStopped }},
		},
		"a blocked launch is written at once, so that kubectl shows why": {blocked: blocked},
		"a reconcile that failed is written at once":                     {err: errors.New("boom")},
		"an instance made with kubectl (no ID yet) is written at once": {
			mods: []func(base, inst *koalav1.Instance){func(base, inst *koalav1.Instance) {
				delete(base.Annotations, koalav1.IDAnnotation)
				delete(inst.Annotations, koalav1.IDAnnotation)
			}},
		},
		"an instance whose status was written before is not held back": {
			mods: []func(base, inst *koalav1.Instance){func(base, _ *koalav1.Instance) { base.Status.InstanceID = "i-0123456789abcdef0" }},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			base, inst := launched(tc.mods...)
			g.Expect(launchQuiet(base, inst, tc.blocked, tc.err)).To(Equal(tc.want))
		})
	}
}

func TestOnlyTheFirstLaunchGoingItsWayHasNoStateEvent(t *testing.T) {
	at := func(state koalav1.InstanceStateName, launch time.Time) *koalav1.InstanceStatus {
		return &koalav1.InstanceStatus{State: state, LaunchTime: &metav1.Time{Time: launch}}
	}
	g := NewWithT(t)
	g.Expect(launchProgress("", at(koalav1.InstanceStatePending, t0), t0)).To(BeTrue(), "a launch's first state")
	g.Expect(launchProgress(koalav1.InstanceStatePending, at(koalav1.InstanceStateRunning, t0), t0)).To(BeTrue(), "a launch that runs")
	g.Expect(launchProgress(koalav1.InstanceStatePending, at(koalav1.InstanceStateRunning, t1), t0)).To(BeFalse(), "a start after a stop")
	g.Expect(launchProgress(koalav1.InstanceStateStopped, at(koalav1.InstanceStatePending, t1), t0)).To(BeFalse(), "a start")
	g.Expect(launchProgress(koalav1.InstanceStateRunning, at(koalav1.InstanceStateStopping, t0), t0)).To(BeFalse(), "a stop")
	g.Expect(launchProgress(koalav1.InstanceStatePending, at(koalav1.InstanceStateShuttingDown, t0), t0)).To(BeFalse(), "a termination while pending")
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
