package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
)

// AccountFinalizer lets the operator delete an account's namespace when the Account
// goes (owner references would, but need a garbage collector).
const AccountFinalizer = "cloud.koala.dev/account"

// AccountReconciler gives each Account its 12-digit ID and its namespace, labelled
// so that the EC2 endpoint and the operator can tell which account a namespace is.
type AccountReconciler struct {
	Client client.Client
}

// SetupWithManager registers the reconciler.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&koalav1.Account{}).
		Owns(&corev1.Namespace{}).
		Owns(&corev1.ResourceQuota{}).
		Named("account").
		Complete(r)
}

// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=cloud.koala.dev,resources=accounts/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=get;list;watch;create;patch;delete

// Reconcile settles one account's ID and namespace.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	acct := &koalav1.Account{}
	if err := r.Client.Get(ctx, req.NamespacedName, acct); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !acct.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, acct)
	}
	if !controllerutil.ContainsFinalizer(acct, AccountFinalizer) {
		base := acct.DeepCopy()
		controllerutil.AddFinalizer(acct, AccountFinalizer)
		if err := r.Client.Patch(ctx, acct, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	base := acct.DeepCopy()
	cond := metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionTrue, Reason: koalav1.AccountReasonReady, Message: "The account is ready"}
	defer func() {
		meta.SetStatusCondition(&acct.Status.Conditions, cond)
		if retErr == nil {
			acct.Status.ObservedGeneration = acct.Generation
		}
		if equality.Semantic.DeepEqual(base.Status, acct.Status) {
			return
		}
		if err := r.Client.Status().Patch(ctx, acct, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, fmt.Errorf("patching status: %w", err))
		}
	}()

	id, blocked, err := r.accountID(ctx, acct)
	if err != nil || blocked != nil {
		if blocked != nil {
			cond = *blocked
		}
		return ctrl.Result{}, err
	}
	if acct.Status.AccountID != id {
		// The ID is recorded, with an optimistic lock, before anything carries it: a
		// reconcile that read the Account from a cache not yet showing a generated ID
		// must fail here, not generate another one and relabel the namespace with it.
		withID := acct.DeepCopy()
		withID.Status.AccountID = id
		if err := r.Client.Status().Patch(ctx, withID, client.MergeFromWithOptions(acct, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("recording the account ID: %w", err)
		}
		acct.Status.AccountID, acct.ResourceVersion = id, withID.ResourceVersion
	}
	if blocked, err := r.reconcileNamespace(ctx, acct); err != nil || blocked != nil {
		if blocked != nil {
			cond = *blocked
		}
		return ctrl.Result{}, err
	}
	acct.Status.Namespace = acct.Name
	return ctrl.Result{}, r.reconcileResourceQuota(ctx, acct)
}

// AccountQuotaName names the ResourceQuota that Koala keeps in an account's namespace.
const AccountQuotaName = "koala-account"

// resourceQuotaHard is what the namespace's ResourceQuota enforces of the account's
// quotas, so that kubectl users meet the limits the EC2 endpoint applies: running
// instances are the VirtualMachineInstances (a VMI exists only while its VM runs),
// volume GiB are the storage the volumes' PVCs request. vCPUs and memory are the
// operator's check only: virt-launcher pods request more than the guest gets.
func resourceQuotaHard(q koalav1.AccountQuotas) corev1.ResourceList {
	hard := corev1.ResourceList{}
	if q.Instances != nil {
		hard["count/virtualmachineinstances.kubevirt.io"] = *resource.NewQuantity(int64(*q.Instances), resource.DecimalSI)
	}
	if q.VolumeGiB != nil {
		hard[corev1.ResourceRequestsStorage] = *resource.NewQuantity(*q.VolumeGiB<<30, resource.BinarySI)
	}
	if q.Snapshots != nil {
		hard["count/snapshots.cloud.koala.dev"] = *resource.NewQuantity(int64(*q.Snapshots), resource.DecimalSI)
	}
	if q.Addresses != nil {
		hard["count/addresses.cloud.koala.dev"] = *resource.NewQuantity(int64(*q.Addresses), resource.DecimalSI)
	}
	return hard
}

// reconcileResourceQuota keeps the namespace's ResourceQuota in line with the
// account's quotas; without quotas there is none.
func (r *AccountReconciler) reconcileResourceQuota(ctx context.Context, acct *koalav1.Account) error {
	hard := resourceQuotaHard(acct.Spec.Quotas)
	rq := &corev1.ResourceQuota{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: acct.Name, Name: AccountQuotaName}, rq)
	switch {
	case apierrors.IsNotFound(err):
		if len(hard) == 0 {
			return nil
		}
		rq = &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: acct.Name, Name: AccountQuotaName},
			Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		}
		if err := controllerutil.SetControllerReference(acct, rq, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, rq); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the account's ResourceQuota: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("getting the account's ResourceQuota: %w", err)
	case len(hard) == 0:
		if err := r.Client.Delete(ctx, rq); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the account's ResourceQuota: %w", err)
		}
		return nil
	case equality.Semantic.DeepEqual(rq.Spec.Hard, hard):
		return nil
	}
	base := rq.DeepCopy()
	rq.Spec.Hard = hard
	if err := r.Client.Patch(ctx, rq, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("updating the account's ResourceQuota: %w", err)
	}
	return nil
}

// accountID is the one in spec, or the one generated earlier, or a new random one; an
// ID another (older) account already has is refused.
func (r *AccountReconciler) accountID(ctx context.Context, acct *koalav1.Account) (string, *metav1.Condition, error) {
	want := acct.Spec.AccountID
	if want == "" {
		want = acct.Status.AccountID
	}
	for attempt := 0; ; attempt++ {
		if want == "" && attempt == 0 {
			// The first choice is derived from the account's UID: a reconcile that reads
			// the account from a cache that has not seen the ID written a moment ago
			// (another controller's write of the account brings such a reconcile) then
			// chooses the same one, rather than relabelling the namespace.
			sum := sha256.Sum256([]byte(acct.UID))
			want = fmt.Sprintf("%012d", binary.BigEndian.Uint64(sum[:8])%1_000_000_000_000)
		}
		if want == "" {
			n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000_000))
			if err != nil {
				return "", nil, err
			}
			want = fmt.Sprintf("%012d", n)
		}
		var others koalav1.AccountList
		if err := r.Client.List(ctx, &others, client.MatchingFields{index.AccountID: want}); err != nil {
			return "", nil, fmt.Errorf("looking up account ID %s: %w", want, err)
		}
		taken := false
		for i := range others.Items {
			o := &others.Items[i]
			if o.UID != acct.UID && (o.CreationTimestamp.Before(&acct.CreationTimestamp) ||
				(o.CreationTimestamp.Equal(&acct.CreationTimestamp) && o.Name < acct.Name)) {
				taken = true
			}
		}
		switch {
		case !taken:
			return want, nil, nil
		case acct.Spec.AccountID != "":
			return "", &metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: koalav1.AccountReasonDuplicateID,
				Message: fmt.Sprintf("Another account already has the account ID %s", want)}, nil
		case attempt > 5:
			return "", nil, errors.New("could not find a free account ID")
		}
		want = ""
	}
}

// reconcileNamespace makes sure the account's namespace exists, carries the account's
// labels and is owned by the Account. A namespace of that name that belongs to
// something else is never taken over.
func (r *AccountReconciler) reconcileNamespace(ctx context.Context, acct *koalav1.Account) (*metav1.Condition, error) {
	ns := &corev1.Namespace{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: acct.Name}, ns)
	if apierrors.IsNotFound(err) {
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name:   acct.Name,
			Labels: map[string]string{koalav1.AccountLabel: acct.Name, koalav1.AccountIDLabel: acct.Status.AccountID},
		}}
		if err := controllerutil.SetControllerReference(acct, ns, r.Client.Scheme()); err != nil {
			return nil, err
		}
		if err := r.Client.Create(ctx, ns); err != nil {
			return nil, fmt.Errorf("creating namespace: %w", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting namespace: %w", err)
	}
	if !metav1.IsControlledBy(ns, acct) {
		return &metav1.Condition{Type: koalav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: koalav1.AccountReasonNamespaceTaken,
			Message: fmt.Sprintf("The namespace %s exists and does not belong to this account", acct.Name)}, nil
	}
	if ns.Labels[koalav1.AccountIDLabel] != acct.Status.AccountID || ns.Labels[koalav1.AccountLabel] != acct.Name {
		base := ns.DeepCopy()
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[koalav1.AccountIDLabel] = acct.Status.AccountID
		ns.Labels[koalav1.AccountLabel] = acct.Name
		if err := r.Client.Patch(ctx, ns, client.MergeFrom(base)); err != nil {
			return nil, fmt.Errorf("labelling namespace: %w", err)
		}
	}
	return nil, nil
}

// reconcileDelete deletes the account's namespace (and so everything in it) and lets
// the Account go. It does not wait for the namespace to be gone: its contents are
// the namespace controller's business.
func (r *AccountReconciler) reconcileDelete(ctx context.Context, acct *koalav1.Account) error {
	if !controllerutil.ContainsFinalizer(acct, AccountFinalizer) {
		return nil
	}
	ns := &corev1.Namespace{}
	switch err := r.Client.Get(ctx, client.ObjectKey{Name: acct.Name}, ns); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("getting namespace: %w", err)
	case metav1.IsControlledBy(ns, acct) && ns.DeletionTimestamp.IsZero():
		if err := r.Client.Delete(ctx, ns, client.Preconditions{UID: &ns.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting namespace: %w", err)
		}
	}
	base := acct.DeepCopy()
	controllerutil.RemoveFinalizer(acct, AccountFinalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, acct, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}
