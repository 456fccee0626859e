package operator

import (
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
)

// Prerequisite is one API resource that a component Koala builds on must serve before
// the reconcilers can start: its CRD is installed by that component, not by Koala.
type Prerequisite struct {
	// Component is what installs the resource, as a platform team knows it ("KubeVirt").
	Component string
	// GroupVersion and Resource name the API resource ("kubevirt.io/v1", "virtualmachines").
	GroupVersion string
	Resource     string
}

func (p Prerequisite) String() string { return p.Resource + "." + p.GroupVersion }

// DefaultPrerequisites are the resources the operator needs on a cluster: KubeVirt's
// virtual machines and instance types, CDI's data volumes and sources, CSI snapshots
// (EBS snapshots), Multus network attachments (VPC subnets on provider networks) and
// multi-network policies (security groups on those subnets). Every kind of another
// project that a controller watches must be here: controller-runtime retries a watch
// of a kind not yet served only every 10 seconds, so an operator that started without
// one would leave its controller idle, and give up on it after the cache sync timeout.
func DefaultPrerequisites() []Prerequisite {
	return []Prerequisite{
		{Component: "KubeVirt", GroupVersion: "kubevirt.io/v1", Resource: "virtualmachines"},
		{Component: "KubeVirt", GroupVersion: "kubevirt.io/v1", Resource: "virtualmachineinstances"},
		{Component: "KubeVirt", GroupVersion: "instancetype.kubevirt.io/v1beta1", Resource: "virtualmachineclusterinstancetypes"},
		{Component: "CDI", GroupVersion: "cdi.kubevirt.io/v1beta1", Resource: "datavolumes"},
		{Component: "CDI", GroupVersion: "cdi.kubevirt.io/v1beta1", Resource: "datasources"},
		{Component: "CSI snapshot CRDs (external-snapshotter)", GroupVersion: "snapshot.storage.k8s.io/v1", Resource: "volumesnapshots"},
		{Component: "Multus", GroupVersion: "k8s.cni.cncf.io/v1", Resource: "network-attachment-definitions"},
		{Component: "Multus multi-networkpolicy", GroupVersion: "k8s.cni.cncf.io/v1beta1", Resource: "multi-networkpolicies"},
	}
}

// MissingPrerequisites asks the API server's discovery which of reqs it does not serve.
// Discovery needs no RBAC beyond what every authenticated user has, and it answers
// for what the API server actually serves, not for CRD objects that may not be
// established yet.
func MissingPrerequisites(disc discovery.DiscoveryInterface, reqs []Prerequisite) ([]Prerequisite, error) {
	served := map[string]map[string]bool{}
	var missing []Prerequisite
	for _, r := range reqs {
		resources, ok := served[r.GroupVersion]
		if !ok {
			list, err := disc.ServerResourcesForGroupVersion(r.GroupVersion)
			switch {
			case apierrors.IsNotFound(err):
				// The group version is not served at all.
			case err != nil:
				return nil, fmt.Errorf("discovering %s: %w", r.GroupVersion, err)
			}
			resources = map[string]bool{}
			if list != nil {
				for _, res := range list.APIResources {
					resources[res.Name] = true
				}
			}
			served[r.GroupVersion] = resources
		}
		if !resources[r.Resource] {
			missing = append(missing, r)
		}
	}
	return missing, nil
}

// describeMissing says what is missing, grouped by the component to install, in a
// stable order: "KubeVirt (virtualmachines.kubevirt.io/v1), Multus (...)".
func describeMissing(missing []Prerequisite) string {
	byComponent := map[string][]string{}
	var components []string
	for _, m := range missing {
		if _, ok := byComponent[m.Component]; !ok {
			components = append(components, m.Component)
		}
		byComponent[m.Component] = append(byComponent[m.Component], m.String())
	}
	sort.Strings(components)
	parts := make([]string, 0, len(components))
	for _, c := range components {
		parts = append(parts, c+" ("+strings.Join(byComponent[c], ", ")+")")
	}
	return strings.Join(parts, ", ")
}
