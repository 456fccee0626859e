package store

// The EC2 endpoint's permissions on the network kinds: it writes VPCs, subnets,
// security groups and Elastic IPs, creates and removes the claims that hold addresses
// (at RunInstances and AllocateAddress), and reads the platform team's provider
// networks and address pools.

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networks;subnets;securitygroups;addresses,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=networkclaims,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=providernetworks;addresspools,verbs=get;list;watch
