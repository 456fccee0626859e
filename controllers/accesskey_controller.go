package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/credentials"
	"github.com/koala-dev/koala/internal/index"
)

// AccessKeyFinalizer lets the operator delete a key's Secret when the AccessKey goes.
const AccessKeyFinalizer = "cloud.koala.dev/access-key"

// AccessKeyReconciler generates each AccessKey's key ID and secret and keeps them in a
// Secret in the account's namespace, with the data keys the AWS CLI reads from the
// environment.
type AccessKeyReconciler struct {
	Client client.Client
	Clock  clock.PassiveClock
}

// SetupWithManager registers the reconciler. A key waits for its Account, so an
// Account's change requeues its keys.
func (r *AccessKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.AccessKey{}).
		Owns(&corev1.Secret{}).
		Watches(&koalav1.Account{}, handler.EnqueueRequestsFromMapFunc(r.keysOf)).
		Named("accesskey").
		Complete(r)
}

func (r *AccessKeyReconciler) keysOf(ctx context.Context, obj client.Object) []reconcile.Request {
	var keys koalav1.AccessKeyList
	if err := r.Client.List(ctx, &keys, client.MatchingFields{index.AccessKeyAccount: obj.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, len(keys.Items))
	for i := range keys.Items {
		out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&keys.Items[i])}
	}
	return out
}

// secretName is the name of the Secret holding a key's credentials.
func secretName(key *koalav1.AccessKey) string { return "accesskey-" + key.Name }

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accesskeys,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accesskeys/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accesskeys/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;delete

// Reconcile makes sure the key has credentials and reports whether it can be used.
func (r *AccessKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	key := &koalav1.AccessKey{}
	if err := r.Client.Get(ctx, req.NamespacedName, key); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !key.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, key)
	}
	if !controllerutil.ContainsFinalizer(key, AccessKeyFinalizer) {
		base := key.DeepCopy()
		controllerutil.AddFinalizer(key, AccessKeyFinalizer)
		if err := r.Client.Patch(ctx, key, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	base := key.DeepCopy()
	cond := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionTrue, Reason: koalav1.AccessKeyReasonActive, Message: "The key can sign requests"}
	defer func() {
		meta.SetStatusCondition(&key.Status.Conditions, cond)
		if retErr == nil {
			key.Status.ObservedGeneration = key.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, key.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, key, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	acct := &koalav1.Account{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: key.Spec.Account}, acct)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("getting account %s: %w", key.Spec.Account, err)
	}
	if err != nil || acct.Status.Namespace == "" || acct.Status.AccountID == "" || !acct.DeletionTimestamp.IsZero() {
		cond = metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: koalav1.AccessKeyReasonAccountNotReady,
			Message: fmt.Sprintf("The account %s does not exist or is not ready", key.Spec.Account)}
		return ctrl.Result{}, nil
	}
	if err := r.reconcileSecret(ctx, key, acct.Status.Namespace); err != nil {
		return ctrl.Result{}, err
	}
	if key.Spec.Status == koalav1.AccessKeyInactive {
		cond = metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: koalav1.AccessKeyReasonInactive,
			Message: "The key is inactive: requests signed with it are refused"}
	}
	return ctrl.Result{}, nil
}

// reconcileSecret makes sure the key's Secret exists and that status names it. A
// Secret left by an earlier reconcile (that stopped before writing status) is adopted;
// a missing one is replaced by a new key, which retires the old key ID.
func (r *AccessKeyReconciler) reconcileSecret(ctx context.Context, key *koalav1.AccessKey, namespace string) error {
	name := client.ObjectKey{Namespace: namespace, Name: secretName(key)}
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, name, sec)
	switch {
	case err == nil && metav1.IsControlledBy(sec, key) && len(sec.Data[koalav1.AccessKeyIDKey]) > 0:
		if id := string(sec.Data[koalav1.AccessKeyIDKey]); key.Status.AccessKeyID != id {
			key.Status.AccessKeyID = id
			key.Status.CreateDate = &metav1.Time{Time: sec.CreationTimestamp.Time}
		}
		key.Status.SecretRef = &koalav1.SecretReference{Namespace: namespace, Name: name.Name}
		return nil
	case err == nil:
		return fmt.Errorf("the Secret %s exists and does not belong to access key %s", name, key.Name)
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("getting Secret %s: %w", name, err)
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name.Name, Namespace: namespace,
			Labels: map[string]string{koalav1.AccessKeyLabel: key.Name, koalav1.AccountLabel: key.Spec.Account},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			koalav1.AccessKeyIDKey:     []byte(credentials.NewAccessKeyID()),
			koalav1.SecretAccessKeyKey: []byte(credentials.NewSecretAccessKey()),
		},
	}
	if err := controllerutil.SetControllerReference(key, sec, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Create(ctx, sec); err != nil {
		return fmt.Errorf("creating Secret %s: %w", name, err)
	}
	key.Status.AccessKeyID = string(sec.Data[koalav1.AccessKeyIDKey])
	key.Status.SecretRef = &koalav1.SecretReference{Namespace: namespace, Name: name.Name}
	key.Status.CreateDate = &metav1.Time{Time: r.Clock.Now()}
	return nil
}

// reconcileDelete deletes the key's Secret. The EC2 endpoint already refuses the key:
// it only trusts keys whose AccessKey exists.
func (r *AccessKeyReconciler) reconcileDelete(ctx context.Context, key *koalav1.AccessKey) error {
	if !controllerutil.ContainsFinalizer(key, AccessKeyFinalizer) {
		return nil
	}
	if ref := key.Status.SecretRef; ref != nil {
		sec := &corev1.Secret{}
		switch err := r.Client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, sec); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("getting Secret: %w", err)
		case metav1.IsControlledBy(sec, key):
			if err := r.Client.Delete(ctx, sec); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting Secret: %w", err)
			}
		}
	}
	base := key.DeepCopy()
	controllerutil.RemoveFinalizer(key, AccessKeyFinalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, key, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}
