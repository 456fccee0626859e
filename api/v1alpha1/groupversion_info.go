// Package v1alpha1 holds Koala's API types: the EC2 nouns (instances, images, key pairs)
// as Kubernetes resources of the group cloud.koala.dev.
//
// +kubebuilder:object:generate=true
// +groupName=cloud.koala.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Koala resource.
	GroupVersion = schema.GroupVersion{Group: "cloud.koala.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Koala types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Koala types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
