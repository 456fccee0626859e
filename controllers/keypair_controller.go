package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/sshkeys"
)

// KeyFingerprintAnnotation carries the fingerprint EC2 shows for a key pair it
// generated (CreateKeyPair), which only the creator can compute: it needs the
// private key, which is never stored.
const KeyFingerprintAnnotation = "cloud.koala.dev/key-fingerprint"

// KeyPairReconciler gives key pairs their ID and fingerprint and reports invalid keys
// and duplicate names.
type KeyPairReconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconciler. A key pair's validity depends on its
// namesakes, so a change to one requeues the others of the same name.
func (r *KeyPairReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.KeyPair{}).
		Watches(&koalav1.KeyPair{}, handler.EnqueueRequestsFromMapFunc(r.namesakes)).
		Named("keypair").
		Complete(r)
}

func (r *KeyPairReconciler) namesakes(ctx context.Context, obj client.Object) []reconcile.Request {
	kp := obj.(*koalav1.KeyPair)
	var list koalav1.KeyPairList
	if err := r.Client.List(ctx, &list, client.InNamespace(kp.Namespace), client.MatchingFields{index.KeyName: kp.KeyName()}); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if list.Items[i].UID != kp.UID {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=keypairs,verbs=get;list;watch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=keypairs/status,verbs=get;update;patch

// Reconcile computes a key pair's status.
func (r *KeyPairReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	kp := &koalav1.KeyPair{}
	if err := r.Client.Get(ctx, req.NamespacedName, kp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	base := kp.DeepCopy()
	if kp.Status.KeyPairID == "" {
		id, err := chooseID(ctx, r.Client, &koalav1.KeyPairList{}, kp, ids.KeyPair, kp.Annotations[koalav1.IDAnnotation])
		if err != nil {
			return ctrl.Result{}, err
		}
		kp.Status.KeyPairID = id
		kp.Status.CreateTime = &metav1.Time{Time: kp.CreationTimestamp.Time}
	}
	var namesakes koalav1.KeyPairList
	if err := r.Client.List(ctx, &namesakes, client.InNamespace(kp.Namespace), client.MatchingFields{index.KeyName: kp.KeyName()}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing key pairs named %q: %w", kp.KeyName(), err)
	}
	setKeyPairStatus(&kp.Status, kp, namesakes.Items)
	kp.Status.ObservedGeneration = kp.Generation
	if equality.Semantic.DeepEqual(base.Status, kp.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, kp, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, errors.Join(retErr, fmt.Errorf("patching status: %w", err))
	}
	return ctrl.Result{}, nil
}

// setKeyPairStatus fills the type and fingerprint from the public key and decides
// whether the key pair is the account's one key of its name: the oldest wins.
func setKeyPairStatus(st *koalav1.KeyPairStatus, kp *koalav1.KeyPair, namesakes []koalav1.KeyPair) {
	cond := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionTrue, Reason: koalav1.KeyPairReasonValid, Message: "The key pair can be used"}
	pub, err := sshkeys.ParsePublic(kp.Spec.PublicKey)
	if err != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, koalav1.KeyPairReasonInvalidKey, err.Error()
	} else {
		st.KeyType = koalav1.KeyType(pub.Type)
		st.KeyFingerprint = pub.Fingerprint
		if fp := kp.Annotations[KeyFingerprintAnnotation]; fp != "" && len(fp) <= 128 {
			st.KeyFingerprint = fp
		}
	}
	for i := range namesakes {
		other := &namesakes[i]
		if other.UID == kp.UID {
			continue
		}
		if other.Precedes(kp) {
			cond.Status, cond.Reason = metav1.ConditionFalse, koalav1.KeyPairReasonDuplicate
			cond.Message = fmt.Sprintf("The key pair %s (%s) already has the key name '%s'", other.Name, other.EC2ID(), kp.KeyName())
			break
		}
	}
	meta.SetStatusCondition(&st.Conditions, cond)
}
