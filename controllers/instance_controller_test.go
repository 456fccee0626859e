package controllers_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	kubevirtv1 "kubevirt.io/api/core/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/testgen"
)

const timeout = 20 * time.Second

// availableImage creates an image and waits until the operator reports it available.
func availableImage(t *testing.T, g Gomega, ns string) *koalav1.Image {
	t.Helper()
	img := testgen.Image("img", ns)
	g.Expect(k8s.Create(context.Background(), img)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(img), img)).To(Succeed())
		g.Expect(img.Status.State).To(Equal(koalav1.ImageStateAvailable))
	}, timeout).Should(Succeed())
	return img
}

func get(g Gomega, obj client.Object) {
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
}

// stateRecorder records every state an instance's status passes through, as a watch
// sees it.
type stateRecorder struct {
	mu       sync.Mutex
	seen     []koalav1.InstanceStateName
	versions map[string]bool
}

// recordStates watches an instance from the version of it the test holds (the one
// Create or the last Get returned) and records every state its status passes through,
// starting with that version's. Watching from that version, not from "now", is what
// makes it exact: a change the operator makes before the watch is open is delivered
// all the same, however late the watch opens on a loaded machine.
func recordStates(t *testing.T, inst *koalav1.Instance) *stateRecorder {
	t.Helper()
	w, err := k8s.Watch(context.Background(), &koalav1.InstanceList{},
		client.InNamespace(inst.Namespace), client.MatchingFields{"metadata.name": inst.Name},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: inst.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	r := &stateRecorder{versions: map[string]bool{inst.ResourceVersion: true}}
	r.add(inst.Status.State)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			obj := ev.Object.(*koalav1.Instance)
			r.mu.Lock()
			r.versions[obj.ResourceVersion] = true
			r.mu.Unlock()
			r.add(obj.Status.State)
		}
	}()
	t.Cleanup(w.Stop)
	return r
}

func (r *stateRecorder) add(s koalav1.InstanceStateName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s != "" && (len(r.seen) == 0 || r.seen[len(r.seen)-1] != s) {
		r.seen = append(r.seen, s)
	}
}

// States returns the states seen so far.
func (r *stateRecorder) States() []koalav1.InstanceStateName {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]koalav1.InstanceStateName(nil), r.seen...)
}

// Saw reports whether the watch has delivered that version of the instance: once it
// has, every change up to it has been recorded (a watch delivers them in order).
func (r *stateRecorder) Saw(inst *koalav1.Instance) func() bool {
	rv := inst.ResourceVersion
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.versions[rv]
	}
}

func TestInstanceLaunchesThroughPendingToRunningWithTheVMsAddress(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	img := availableImage(t, g, ns)
	inst := testgen.Instance("web", ns, img.Status.ImageID, testgen.WithTags(map[string]string{"Name": "web"}))
	g.Expect(k8s.Create(context.Background(), inst)).To(Succeed())
	states := recordStates(t, inst)

	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())

	g.Eventually(states.States, timeout).Should(Equal([]koalav1.InstanceStateName{koalav1.InstanceStatePending, koalav1.InstanceStateRunning}))
	g.Expect(ids.Valid(ids.Instance, inst.Status.InstanceID)).To(BeTrue(), "instance ID %q", inst.Status.InstanceID)
	g.Expect(ids.Valid(ids.Reservation, inst.Status.ReservationID)).To(BeTrue())
	g.Expect(inst.Status.StateCode).To(Equal(int32(16)))
	g.Expect(inst.Status.PrivateIPAddress).To(HavePrefix("10.244."))
	g.Expect(inst.Status.NodeName).To(BeElementOf("node-a", "node-b"))
	g.Expect(inst.Status.AvailabilityZone).To(BeElementOf("zone-a", "zone-b"))
	g.Expect(inst.Status.LaunchTime).NotTo(BeNil())
	g.Expect(inst.Status.RootDeviceName).To(Equal("/dev/xvda"), "the image's root device")
	g.Expect(inst.Status.Architecture).To(Equal(koalav1.ArchitectureX8664))
	g.Expect(inst.Finalizers).To(ContainElement("cloud.koala.dev/instance"))
	g.Expect(meta(inst.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))

	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	g.Expect(*vm.Spec.RunStrategy).To(Equal(kubevirtv1.RunStrategyAlways))
	g.Expect(vm.Spec.Instancetype.Name).To(Equal("t3.micro"))
	g.Expect(metav1.IsControlledBy(vm, inst)).To(BeTrue())
	g.Expect(vm.Labels[koalav1.InstanceIDLabel]).To(Equal(inst.Status.InstanceID))
	g.Expect(vm.Spec.DataVolumeTemplates).To(HaveLen(1))
	g.Expect(vm.Spec.DataVolumeTemplates[0].Spec.SourceRef.Name).To(Equal(img.Status.DataSourceName))
	// The zone is chosen at launch and the VM is pinned to it, so it never changes.
	g.Expect(vm.Spec.Template.Spec.NodeSelector).To(HaveKeyWithValue("topology.kubernetes.io/zone", inst.Status.AvailabilityZone))
	g.Expect(inst.Status.NodeName).To(Equal("node-" + strings.TrimPrefix(inst.Status.AvailabilityZone, "zone-")))
}

func TestAnInstanceTheEndpointLaunchedIsFirstWrittenRunningWithItsCreationAsLaunchTime(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	img := availableImage(t, g, ns)
	id := ids.New(ids.Instance)
	inst := testgen.Instance(id, ns, img.Status.ImageID, testgen.WithEC2ID(id))
	g.Expect(k8s.Create(context.Background(), inst)).To(Succeed())
	states := recordStates(t, inst)

	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())
	// The guest ran within the quiet period: the status was written once, running, and
	// never said only "pending" (the endpoint showed that from the spec). The watch may
	// deliver that write a moment after the Get above saw it: wait until it has.
	g.Eventually(states.Saw(inst), timeout).Should(BeTrue())
	g.Expect(states.States()).To(Equal([]koalav1.InstanceStateName{koalav1.InstanceStateRunning}))
	g.Consistently(states.States, time.Second).Should(Equal([]koalav1.InstanceStateName{koalav1.InstanceStateRunning}))
	g.Expect(inst.Status.InstanceID).To(Equal(id))
	g.Expect(inst.Status.LaunchTime.Time).To(BeTemporally("==", inst.CreationTimestamp.Time), "the launch time the endpoint showed meanwhile")
}

func TestAnInstanceIsPlacedInTheZoneItAsksFor(t *testing.T) {
	g := NewWithT(t)
	inst := running(t, g, namespace(t), testgen.WithZone("zone-b"))
	g.Expect(inst.Status.AvailabilityZone).To(Equal("zone-b"))
	g.Expect(inst.Status.NodeName).To(Equal("node-b"))
}

func meta(conds []metav1.Condition, t string) metav1.ConditionStatus {
	for _, c := range conds {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func running(t *testing.T, g Gomega, ns string, opts ...testgen.InstanceOption) *koalav1.Instance {
	t.Helper()
	img := availableImage(t, g, ns)
	inst := testgen.Instance("vm", ns, img.Status.ImageID, opts...)
	g.Expect(k8s.Create(context.Background(), inst)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())
	return inst
}

func setState(g Gomega, inst *koalav1.Instance, s koalav1.InstanceDesiredState) {
	patch := client.MergeFrom(inst.DeepCopy())
	inst.Spec.State = s
	g.Expect(k8s.Patch(context.Background(), inst, patch)).To(Succeed())
}

func TestStoppingHaltsTheVMAndStartingRunsItAgain(t *testing.T) {
	g := NewWithT(t)
	inst := running(t, g, namespace(t))
	ip := inst.Status.PrivateIPAddress
	states := recordStates(t, inst)

	setState(g, inst, koalav1.DesiredStateStopped)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateStopped))
	}, timeout).Should(Succeed())
	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	g.Expect(*vm.Spec.RunStrategy).To(Equal(kubevirtv1.RunStrategyHalted))
	// Stopped is reported once the guest has ended (the VMI's phase); the VMI object is
	// removed a moment later.
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &kubevirtv1.VirtualMachineInstance{}))
	}, timeout).Should(BeTrue(), "the VMI of a stopped instance must be gone")
	g.Expect(inst.Status.PrivateIPAddress).To(Equal(ip), "a stopped instance keeps showing its address")
	g.Expect(inst.Status.StateReason.Code).To(Equal("Client.UserInitiatedShutdown"))

	setState(g, inst, koalav1.DesiredStateRunning)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())
	// The watch may deliver the last event a moment after the Get saw it.
	g.Eventually(states.States, timeout).Should(Equal([]koalav1.InstanceStateName{
		koalav1.InstanceStateRunning, koalav1.InstanceStateStopping, koalav1.InstanceStateStopped,
		koalav1.InstanceStatePending, koalav1.InstanceStateRunning,
	}))
}

func TestRebootReplacesTheGuestWhileTheInstanceStaysRunning(t *testing.T) {
	g := NewWithT(t)
	inst := running(t, g, namespace(t))
	vmi := &kubevirtv1.VirtualMachineInstance{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vmi)).To(Succeed())
	oldUID := vmi.UID
	states := recordStates(t, inst)

	patch := client.MergeFrom(inst.DeepCopy())
	inst.Annotations = map[string]string{koalav1.RebootRequestedAnnotation: time.Now().Format(time.RFC3339Nano)}
	g.Expect(k8s.Patch(context.Background(), inst, patch)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vmi)).To(Succeed())
		g.Expect(vmi.UID).NotTo(Equal(oldUID))
		g.Expect(vmi.Status.Phase).To(Equal(kubevirtv1.Running))
		get(g, inst)
		g.Expect(inst.Status.LastRebootRequest).To(Equal(inst.Annotations[koalav1.RebootRequestedAnnotation]))
	}, timeout).Should(Succeed())
	// Every change up to the one the Get saw is recorded once the watch has delivered
	// it; then nothing but running may have been seen, nor be seen for a while.
	g.Eventually(states.Saw(inst), timeout).Should(BeTrue())
	g.Consistently(states.States, time.Second).
		Should(Equal([]koalav1.InstanceStateName{koalav1.InstanceStateRunning}))
}

func TestTerminationDeletesTheVMKeepsTheInstanceForTheRetentionThenRemovesIt(t *testing.T) {
	g := NewWithT(t)
	inst := running(t, g, namespace(t))
	states := recordStates(t, inst)
	setState(g, inst, koalav1.DesiredStateTerminated)

	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateTerminated))
	}, timeout).Should(Succeed())
	g.Expect(inst.Status.TerminatedAt).NotTo(BeNil())
	g.Expect(inst.Status.PrivateIPAddress).To(BeEmpty())
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &kubevirtv1.VirtualMachine{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the VM of a terminated instance must be gone: %v", err)
	g.Eventually(states.States, timeout).Should(Equal([]koalav1.InstanceStateName{
		koalav1.InstanceStateRunning, koalav1.InstanceStateShuttingDown, koalav1.InstanceStateTerminated,
	}))

	// Still listed as terminated for a while, then gone.
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), inst)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &koalav1.Instance{}))
	}, retention+timeout).Should(BeTrue())
	g.Expect(time.Since(inst.Status.TerminatedAt.Time)).To(BeNumerically(">=", retention-time.Second))
}

func TestDeletingAnInstanceWithKubectlRemovesItsVMAndDataVolumes(t *testing.T) {
	g := NewWithT(t)
	inst := running(t, g, namespace(t))
	g.Expect(k8s.Delete(context.Background(), inst)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &koalav1.Instance{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &kubevirtv1.VirtualMachine{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &kubevirtv1.VirtualMachineInstance{}))).To(BeTrue())
		var dvs cdiv1beta1.DataVolumeList
		g.Expect(k8s.List(context.Background(), &dvs, client.InNamespace(inst.Namespace))).To(Succeed())
		for _, dv := range dvs.Items {
			g.Expect(dv.Name).NotTo(HavePrefix(inst.Name+"-"), "data volume %s outlived its instance", dv.Name)
		}
	}, timeout).Should(Succeed())
}

func TestAMissingInstanceTypeBlocksTheLaunchUntilTheTypeExists(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	img := availableImage(t, g, ns)
	typeName := "x1." + strings.TrimPrefix(ns, "test-")
	inst := testgen.Instance("vm", ns, img.Status.ImageID, testgen.WithType(typeName))
	g.Expect(k8s.Create(context.Background(), inst)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStatePending))
		c := readyCondition(inst)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(koalav1.InstanceReasonInstanceTypeNotFound))
		g.Expect(c.Message).To(ContainSubstring(typeName))
		// EC2 clients read why from the state reason.
		g.Expect(inst.Status.StateReason).NotTo(BeNil())
		g.Expect(inst.Status.StateReason.Code).To(Equal("Client.InstanceTypeNotFound"))
	}, timeout).Should(Succeed())
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), &kubevirtv1.VirtualMachine{}))).To(BeTrue())

	g.Expect(k8s.Create(context.Background(), instancetype(typeName, 1, "1Gi"))).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())
}

func readyCondition(inst *koalav1.Instance) *metav1.Condition {
	for i := range inst.Status.Conditions {
		if inst.Status.Conditions[i].Type == koalav1.ReadyCondition {
			return &inst.Status.Conditions[i]
		}
	}
	return nil
}

func TestTheKeyPairsPublicKeyAndTheUserDataReachTheGuestsCloudInit(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	img := availableImage(t, g, ns)
	script := "#!/bin/sh\necho hello\n"
	inst := testgen.Instance("vm", ns, img.Status.ImageID, testgen.WithKey("my key"),
		testgen.WithUserData(base64.StdEncoding.EncodeToString([]byte(script))))
	g.Expect(k8s.Create(context.Background(), inst)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(readyCondition(inst)).NotTo(BeNil())
		g.Expect(readyCondition(inst).Reason).To(Equal(koalav1.InstanceReasonKeyPairNotFound))
	}, timeout).Should(Succeed())

	kp := testgen.KeyPair("mykey", ns, testgen.Ed25519Key)
	kp.Spec.KeyName = "my key"
	g.Expect(k8s.Create(context.Background(), kp)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())

	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(inst), vm)).To(Succeed())
	var userData string
	for _, v := range vm.Spec.Template.Spec.Volumes {
		if v.CloudInitNoCloud != nil {
			raw, err := base64.StdEncoding.DecodeString(v.CloudInitNoCloud.UserDataBase64)
			g.Expect(err).NotTo(HaveOccurred())
			userData = string(raw)
		}
	}
	g.Expect(userData).To(ContainSubstring("ssh_authorized_keys"))
	g.Expect(userData).To(ContainSubstring(strings.Fields(testgen.Ed25519Key)[1]))
	g.Expect(userData).To(ContainSubstring(script))
}

func TestNewUserDataOfAStoppedInstanceReachesItsCloudInitAndKeepsTheRest(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	// On a subnet: the guest's network data is in its cloud-init disk too.
	_, sub := availableSubnet(t, g, ns, "10.21.0.0/16", "10.21.1.0/24")
	inst := running(t, g, ns, testgen.WithSubnet(sub.Status.SubnetID))
	before := vmCloudInit(g, inst)
	g.Expect(before.NetworkData).To(ContainSubstring(inst.Status.PrivateIPAddress))
	setState(g, inst, koalav1.DesiredStateStopped)
	g.Eventually(func(g Gomega) {
		get(g, inst)
		g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateStopped))
	}, timeout).Should(Succeed())

	script := "#!/bin/sh\necho changed\n"
	patch := client.MergeFrom(inst.DeepCopy())
	inst.Spec.UserData = base64.StdEncoding.EncodeToString([]byte(script))
	g.Expect(k8s.Patch(context.Background(), inst, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		after := vmCloudInit(g, inst)
		raw, err := base64.StdEncoding.DecodeString(after.UserDataBase64)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(raw)).To(ContainSubstring(script))
		g.Expect(after.NetworkData).To(Equal(before.NetworkData), "the network data is kept")
	}, timeout).Should(Succeed())
}

func TestTheAPIServerRefusesChangesEC2Forbids(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	inst := running(t, g, ns)
	cases := map[string]struct {
		change func(*koalav1.Instance)
		want   string
	}{
		"the instance type of a running instance": {func(i *koalav1.Instance) { i.Spec.InstanceType = "m5.large" }, "instanceType can only be changed while the instance is stopped"},
		"the user data of a running instance":     {func(i *koalav1.Instance) { i.Spec.UserData = "aGk=" }, "userData can only be changed while the instance is stopped"},
		"the image":                               {func(i *koalav1.Instance) { i.Spec.ImageID = "ami-00000000000000000" }, "imageId cannot be changed"},
		"termination with disableApiTermination": {func(i *koalav1.Instance) {
			i.Spec.DisableAPITermination = true
			i.Spec.State = koalav1.DesiredStateTerminated
		}, "disableApiTermination is true"},
		"a state that does not exist": {func(i *koalav1.Instance) { i.Spec.State = "sleeping" }, "Unsupported value"},
		"a malformed user data":       {func(i *koalav1.Instance) { i.Spec.UserData = "not base64!" }, "spec.userData"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			changed := inst.DeepCopy()
			tc.change(changed)
			err := k8s.Update(context.Background(), changed)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "error %v", err)
			g.Expect(err.Error()).To(ContainSubstring(tc.want))
		})
	}

	t.Run("a malformed image ID at creation", func(t *testing.T) {
		err := k8s.Create(context.Background(), testgen.Instance("bad", ns, "ami-XYZ"))
		NewWithT(t).Expect(err).To(MatchError(ContainSubstring("spec.imageId")))
	})

	t.Run("starting a terminated instance", func(t *testing.T) {
		g := NewWithT(t)
		setState(g, inst, koalav1.DesiredStateTerminated)
		again := inst.DeepCopy()
		again.Spec.State = koalav1.DesiredStateRunning
		err := k8s.Update(context.Background(), again)
		g.Expect(err).To(MatchError(ContainSubstring("a terminated instance cannot be started or stopped")))
	})
}

// TestAnOperatorRestartInTheMiddleOfALaunchLeavesNoDuplicateAndNoOrphan stops the
// operator while 50 instances are being launched and starts a new one.
func TestAnOperatorRestartInTheMiddleOfALaunchLeavesNoDuplicateAndNoOrphan(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	img := availableImage(t, g, ns)
	const n = 50
	for i := 0; i < n; i++ {
		g.Expect(k8s.Create(context.Background(), testgen.Instance(fmt.Sprintf("vm-%02d", i), ns, img.Status.ImageID))).To(Succeed())
	}
	// Let the first operator get part of the way.
	g.Eventually(func() int {
		var vms kubevirtv1.VirtualMachineList
		_ = k8s.List(context.Background(), &vms, client.InNamespace(ns))
		return len(vms.Items)
	}, timeout).Should(BeNumerically(">=", 5))
	stopOperator()
	var err error
	stopOperator, err = startOperator(context.Background())
	g.Expect(err).NotTo(HaveOccurred())

	g.Eventually(func(g Gomega) {
		var list koalav1.InstanceList
		g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
		for _, inst := range list.Items {
			g.Expect(inst.Status.State).To(Equal(koalav1.InstanceStateRunning), "instance %s", inst.Name)
		}
	}, 2*timeout).Should(Succeed())

	var vms kubevirtv1.VirtualMachineList
	g.Expect(k8s.List(context.Background(), &vms, client.InNamespace(ns))).To(Succeed())
	g.Expect(vms.Items).To(HaveLen(n))
	var list koalav1.InstanceList
	g.Expect(k8s.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
	owners := map[string]bool{}
	seenIDs := map[string]bool{}
	for _, inst := range list.Items {
		owners[string(inst.UID)] = true
		g.Expect(seenIDs[inst.Status.InstanceID]).To(BeFalse(), "instance ID %s twice", inst.Status.InstanceID)
		seenIDs[inst.Status.InstanceID] = true
	}
	for _, vm := range vms.Items {
		ref := metav1.GetControllerOf(&vm)
		g.Expect(ref).NotTo(BeNil(), "VM %s has no owner", vm.Name)
		g.Expect(owners[string(ref.UID)]).To(BeTrue(), "VM %s is an orphan", vm.Name)
	}
}

func TestKeyPairsGetAnIDAFingerprintAndDuplicatesAreReported(t *testing.T) {
	g := NewWithT(t)
	ns := namespace(t)
	first := testgen.KeyPair("first", ns, testgen.Ed25519Key)
	first.Spec.KeyName = "shared"
	g.Expect(k8s.Create(context.Background(), first)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, first)
		g.Expect(ids.Valid(ids.KeyPair, first.Status.KeyPairID)).To(BeTrue())
		g.Expect(first.Status.KeyFingerprint).To(Equal("4YG0FkkYk9CFrf5yGjQFgpQwwLfHvVMH6O54+c77EcA"))
		g.Expect(first.Status.KeyType).To(Equal(koalav1.KeyTypeED25519))
	}, timeout).Should(Succeed())

	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second precision
	second := testgen.KeyPair("second", ns, testgen.Ed25519Key)
	second.Spec.KeyName = "shared"
	g.Expect(k8s.Create(context.Background(), second)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, second)
		g.Expect(second.Status.Conditions).To(ContainElement(And(
			HaveField("Type", koalav1.ReadyCondition),
			HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", koalav1.KeyPairReasonDuplicate))))
		get(g, first)
		g.Expect(meta(first.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())

	bad := testgen.KeyPair("bad", ns, "ssh-rsa AAAAnotakey")
	g.Expect(k8s.Create(context.Background(), bad)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, bad)
		g.Expect(bad.Status.Conditions).To(ContainElement(HaveField("Reason", koalav1.KeyPairReasonInvalidKey)))
	}, timeout).Should(Succeed())
}

func TestInstanceNamesThatCannotNameAVirtualMachineAreRefused(t *testing.T) {
	ns := namespace(t)
	for name, objName := range map[string]string{
		"a name with dots":     "web.example",
		"a name of 59 letters": strings.Repeat("a", 59),
	} {
		t.Run(name, func(t *testing.T) {
			err := k8s.Create(context.Background(), testgen.Instance(objName, ns, "ami-0123456789abcdef0"))
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring("must be a DNS label of at most 58 characters")))
		})
	}
}
