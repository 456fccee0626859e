package store

// The EC2 endpoint's permissions: it reads and writes Koala's kinds only, reads the
// accounts, access keys and their Secrets, and reads nodes (for zones) and the
// instance type catalog. `make manifests` turns these markers into
// config/rbac/ec2/role.yaml.

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=instances,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=images,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=volumes;snapshots,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=keypairs,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accounts;accesskeys,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets;nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=instancetype.kubevirt.io,resources=virtualmachineclusterinstancetypes,verbs=get;list;watch
