package v1alpha1

// Tags are EC2 tags: at most 50, keys of 1 to 128 characters that do not start with
// "aws:", values of at most 256 characters. Keys and values are case-sensitive.
//
// +kubebuilder:validation:MaxProperties=50
// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) >= 1 && size(k) <= 128)",message="tag keys must be 1 to 128 characters long"
// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('aws:'))",message="tag keys may not start with 'aws:', which is reserved"
// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 256)",message="tag values may be at most 256 characters long"
type Tags map[string]string

// StateReason says why a resource is in its current state, as EC2's StateReason does.
type StateReason struct {
	// code is a short machine-readable reason, e.g. "Client.UserInitiatedShutdown".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Code string `json:"code,omitempty"`

	// message is a human-readable explanation.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// ReadyCondition is the condition every Koala kind reports: True when the resource is
// in the state its spec asks for. Printer columns read it.
const ReadyCondition = "Ready"
