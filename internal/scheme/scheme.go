// Package scheme registers every API type Koala's components read or write: Kubernetes'
// own, Koala's, KubeVirt's (core and instancetype), CDI's, the CSI snapshot API's and
// Multus' (NetworkAttachmentDefinition, MultiNetworkPolicy).
package scheme

import (
	multinetpolv1beta1 "github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/k8s.cni.cncf.io/v1beta1"
	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kubevirtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"

	koalav1alpha1 "github.com/koala-dev/koala/api/v1alpha1"
)

// AddToScheme adds Koala's, KubeVirt's, CDI's, the CSI snapshot and Multus types to s.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{
		koalav1alpha1.AddToScheme,
		kubevirtv1.AddToScheme,
		instancetypev1beta1.AddToScheme,
		cdiv1beta1.AddToScheme,
		snapshotv1.AddToScheme,
		nadv1.AddToScheme,
		multinetpolv1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}

// New returns a scheme with Kubernetes' built-in types and all of the above.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(AddToScheme(s))
	return s
}
