package operator

// Leader election (several operator replicas, one active) needs leases.
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
