package kubevirtsim

// Annotations the simulator writes or reads.
const (
	// SimulatedAnnotation marks every object the simulator created or whose status it
	// wrote. Its value is always "true".
	SimulatedAnnotation = "kubevirt-simulator.koala.dev/simulated"

	// GuestShutdownAnnotation, set (to any value) on a running VirtualMachineInstance,
	// makes the simulated guest power off: the VMI goes to phase Succeeded, and the VM's
	// runStrategy decides what happens next.
	GuestShutdownAnnotation = "kubevirt-simulator.koala.dev/guest-shutdown"

	// GuestCrashAnnotation, set (to any value) on a running VirtualMachineInstance, makes
	// the simulated guest crash: the VMI goes to phase Failed.
	GuestCrashAnnotation = "kubevirt-simulator.koala.dev/guest-crash"

	// templateHashAnnotation on a VMI is a digest of the VM template it was created
	// from, so that the VM controller can tell a change that needs a restart.
	templateHashAnnotation = "kubevirt-simulator.koala.dev/template-hash"
)

const (
	simulatedValue = "true"

	// componentName is the simulator's name in Events and field managers.
	componentName = "kubevirt-simulator"

	// zoneLabel is the well-known topology label of nodes.
	zoneLabel = "topology.kubernetes.io/zone"
	// hostnameLabel is the well-known hostname label of nodes.
	hostnameLabel = "kubernetes.io/hostname"

	// pvcProtectionFinalizer is added to every PVC by the API server's
	// StorageObjectInUseProtection admission plugin; kube-controller-manager removes it.
	pvcProtectionFinalizer = "kubernetes.io/pvc-protection"
	// foregroundDeletionFinalizer is added by the API server for foreground deletion;
	// the garbage collector removes it once the dependents are gone.
	foregroundDeletionFinalizer = "foregroundDeletion"
)

// isSimulated tells whether obj's annotations already mark it as simulated.
func isSimulated(annotations map[string]string) bool {
	return annotations[SimulatedAnnotation] == simulatedValue
}
