package operator

// The operator's permissions in its own namespace, beyond those of the reconcilers
// (controllers/*): `make manifests` turns these markers into a Role in
// config/rbac/role.yaml. "koala-system" stands for the namespace the operator is
// installed in; the Helm chart puts the Role's rules into the release's namespace.
//
// Leader election: controller-runtime creates the Lease, then reads and renews it by
// name; it records leader changes as core Events on the Lease.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=koala-system,resources=leases,verbs=create
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=koala-system,resources=leases,verbs=get;update,resourceNames=koala-operator.cloud.koala.dev
// +kubebuilder:rbac:groups="",namespace=koala-system,resources=events,verbs=create;patch
//
// The status ConfigMap (created by the chart): read and patched by name only.
// +kubebuilder:rbac:groups="",namespace=koala-system,resources=configmaps,verbs=get;patch,resourceNames=koala-operator-status
