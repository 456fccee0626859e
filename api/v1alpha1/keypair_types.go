package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KeyType is the algorithm of a key pair.
// +kubebuilder:validation:Enum=rsa;ed25519
type KeyType string

const (
	// KeyTypeRSA is an RSA key.
	KeyTypeRSA KeyType = "rsa"
	// KeyTypeED25519 is an Ed25519 key.
	KeyTypeED25519 KeyType = "ed25519"
)

// KeyPairSpec is a public key that instances of the account can be launched with.
// Koala never stores a private key.
type KeyPairSpec struct {
	// keyName is the EC2 key name, unique in the account; it defaults to the object's
	// name. At most 255 ASCII characters. It cannot be changed.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[\x20-\x7E]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="keyName cannot be changed"
	KeyName string `json:"keyName,omitempty"`

	// publicKey is the public key in OpenSSH authorized_keys format ("ssh-rsa AAAA..."
	// or "ssh-ed25519 AAAA..."). It cannot be changed.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	// +kubebuilder:validation:XValidation:rule="self.startsWith('ssh-rsa ') || self.startsWith('ssh-ed25519 ')",message="publicKey must be an OpenSSH public key of type ssh-rsa or ssh-ed25519"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="publicKey cannot be changed"
	PublicKey string `json:"publicKey"`

	// tags are the key pair's EC2 tags.
	// +optional
	Tags Tags `json:"tags,omitempty"`
}

// KeyPairStatus is what the operator observed of a key pair.
type KeyPairStatus struct {
	// keyPairId is the EC2 ID ("key-" and 17 hex digits).
	// +optional
	// +kubebuilder:validation:MaxLength=21
	KeyPairID string `json:"keyPairId,omitempty"`

	// keyFingerprint is the fingerprint EC2 shows for an imported key: the MD5 digest of
	// the DER public key for RSA, the base64 SHA-256 digest for Ed25519.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	KeyFingerprint string `json:"keyFingerprint,omitempty"`

	// keyType is the key's algorithm, read from the public key.
	// +optional
	KeyType KeyType `json:"keyType,omitempty"`

	// createTime is when the key pair was created.
	// +optional
	CreateTime *metav1.Time `json:"createTime,omitempty"`

	// observedGeneration is the spec generation the status was last computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready is True when the public key is valid and the name is not taken
	// by another key pair of the account.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a KeyPair's Ready condition.
const (
	// KeyPairReasonValid: the public key parses and the name is the account's only one.
	KeyPairReasonValid = "Valid"
	// KeyPairReasonInvalidKey: the public key does not parse.
	KeyPairReasonInvalidKey = "InvalidPublicKey"
	// KeyPairReasonDuplicate: an older key pair of the account has the same key name.
	KeyPairReasonDuplicate = "DuplicateKeyName"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=koala
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.keyPairId`
// +kubebuilder:printcolumn:name="Key Name",type=string,JSONPath=`.spec.keyName`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.status.keyType`
// +kubebuilder:printcolumn:name="Fingerprint",type=string,JSONPath=`.status.keyFingerprint`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// KeyPair is an EC2 key pair: the public half of an SSH key, installed in the guests
// launched with it.
type KeyPair struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the public key.
	// +required
	Spec KeyPairSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status KeyPairStatus `json:"status,omitempty"`
}

// EC2ID is the key pair's EC2 ID: from status once confirmed, else the one asked for
// at creation, else "".
func (in *KeyPair) EC2ID() string {
	if in.Status.KeyPairID != "" {
		return in.Status.KeyPairID
	}
	return in.Annotations[IDAnnotation]
}

// KeyName is the EC2 key name: spec.keyName, or the object's name.
func (in *KeyPair) KeyName() string {
	if in.Spec.KeyName != "" {
		return in.Spec.KeyName
	}
	return in.Name
}

// +kubebuilder:object:root=true

// KeyPairList is a list of key pairs.
type KeyPairList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KeyPair `json:"items"`
}

func init() {
	SchemeBuilder.Register(&KeyPair{}, &KeyPairList{})
}

// Precedes orders key pairs of one key name: of several (kubectl users can make them),
// the oldest is the account's key of that name; the object name breaks ties of the
// one-second creation timestamps.
func (in *KeyPair) Precedes(other *KeyPair) bool {
	if !in.CreationTimestamp.Equal(&other.CreationTimestamp) {
		return in.CreationTimestamp.Before(&other.CreationTimestamp)
	}
	return in.Name < other.Name
}
