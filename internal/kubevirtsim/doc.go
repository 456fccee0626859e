// Package kubevirtsim is a SIMULATOR of KubeVirt's and CDI's controllers. It is not
// KubeVirt and runs no virtual machine.
//
// There is no kubelet, container runtime, KubeVirt or CDI where Koala's tests and local
// stack run; there is a real kube-apiserver with the KubeVirt and CDI CRDs installed. This
// package plays virt-controller, virt-handler and CDI's controllers (and the parts of
// kube-controller-manager that they rely on: garbage collection of owned objects, PVC
// protection, binding) against that API server, so that Koala's operator, which never
// knows the simulator exists, sees what it would see on a real cluster:
//
//   - a VirtualMachine gets its DataVolumes from spec.dataVolumeTemplates and, as its
//     runStrategy asks, a VirtualMachineInstance (instancetype expanded) that goes
//     Pending -> Scheduling -> Scheduled -> Running on a simulated node with an IP address
//     from a simulated pod network; deleting or halting stops it after a simulated guest
//     shutdown;
//   - volumes marked hotpluggable that are added to or removed from a running VM's
//     template are attached to or detached from its VMI without a restart; any other
//     template change sets the VM's RestartRequired condition;
//   - a DataVolume goes through the phases of a CDI import, clone or restore from a
//     VolumeSnapshot and gets a PVC, and every pending PVC is bound (a dynamic
//     provisioner with immediate binding); a bound PVC whose request grows is expanded;
//   - a DataSource becomes Ready when its DataVolume has succeeded (or its
//     VolumeSnapshot is ready);
//   - a VolumeSnapshot of a bound PVC gets a VolumeSnapshotContent and becomes
//     readyToUse (the CSI snapshot-controller and a CSI driver's snapshotter), and
//     deleting it deletes the content;
//   - a StorageClass and a VolumeSnapshotClass of a simulated CSI driver exist, both
//     the defaults.
//
// Tests drive the simulated guest with annotations on a running VMI:
// GuestShutdownAnnotation powers it off (phase Succeeded), GuestCrashAnnotation crashes
// it (phase Failed); the VM's runStrategy then decides whether it comes back.
//
// Everything the simulator creates, and every object whose status it writes, carries the
// annotation SimulatedAnnotation ("kubevirt-simulator.koala.dev/simulated": "true"), and
// so do the Events it records (which have KubeVirt's and CDI's reasons and a note that
// starts with "Simulated:"), so that nobody mistakes simulated results for real ones. It
// serves tests and the local stack only: the Helm chart never installs it.
//
// The simulated delays are kept in memory (timestamps in the API have one-second
// precision): after a restart of the simulator, an object in the middle of a simulated
// step starts that step again. All other state is read back from the API server, in
// particular the IP addresses in use, so a restart never hands out an address twice.
package kubevirtsim
