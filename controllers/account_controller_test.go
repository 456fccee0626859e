package controllers_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/controllers"
	"github.com/koala-dev/koala/internal/testgen"
)

// accountName is a fresh, valid account name for one test.
func accountName(t *testing.T) string {
	return fmt.Sprintf("acct-%d", time.Now().UnixNano()%1_000_000_000)
}

func readyAccount(t *testing.T, g Gomega, spec koalav1.AccountSpec) *koalav1.Account {
	t.Helper()
	acct := &koalav1.Account{ObjectMeta: metav1.ObjectMeta{Name: accountName(t)}, Spec: spec}
	g.Expect(k8s.Create(context.Background(), acct)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, acct)
		g.Expect(meta(acct.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
	return acct
}

func TestAnAccountGetsAGeneratedIDAndALabelledNamespaceOfItsName(t *testing.T) {
	g := NewWithT(t)
	acct := readyAccount(t, g, koalav1.AccountSpec{DisplayName: "Team A"})
	g.Expect(acct.Status.AccountID).To(MatchRegexp(`^[0-9]{12}$`))
	g.Expect(acct.Status.Namespace).To(Equal(acct.Name))
	ns := &corev1.Namespace{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: acct.Name}, ns)).To(Succeed())
	g.Expect(ns.Labels).To(HaveKeyWithValue(koalav1.AccountIDLabel, acct.Status.AccountID))
	g.Expect(ns.Labels).To(HaveKeyWithValue(koalav1.AccountLabel, acct.Name))
	g.Expect(metav1.IsControlledBy(ns, acct)).To(BeTrue())
	g.Expect(acct.Finalizers).To(ContainElement("cloud.koala.dev/account"))
}

func TestAnAccountIDCanBeGivenButNotTakenTwiceOrChanged(t *testing.T) {
	g := NewWithT(t)
	id := fmt.Sprintf("%012d", time.Now().UnixNano()%1_000_000_000_000)
	first := readyAccount(t, g, koalav1.AccountSpec{AccountID: id})
	g.Expect(first.Status.AccountID).To(Equal(id))

	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second precision
	second := &koalav1.Account{ObjectMeta: metav1.ObjectMeta{Name: accountName(t)}, Spec: koalav1.AccountSpec{AccountID: id}}
	g.Expect(k8s.Create(context.Background(), second)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, second)
		g.Expect(second.Status.Conditions).To(ContainElement(And(
			HaveField("Type", koalav1.ReadyCondition), HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", koalav1.AccountReasonDuplicateID))))
	}, timeout).Should(Succeed())
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Name: second.Name}, &corev1.Namespace{}))).To(BeTrue(),
		"an account with a taken ID gets no namespace")

	// Read afresh: the operator writes the account too (its default VPC's annotation),
	// and a stale copy would only meet a conflict.
	g.Eventually(func(g Gomega) {
		get(g, first)
		changed := first.DeepCopy()
		changed.Spec.AccountID = "999999999999"
		g.Expect(k8s.Update(context.Background(), changed)).To(MatchError(ContainSubstring("accountId cannot be changed")))
	}, timeout).Should(Succeed())
}

func TestAnAccountNeverTakesOverANamespaceThatIsNotItsOwn(t *testing.T) {
	g := NewWithT(t)
	name := accountName(t)
	g.Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	acct := &koalav1.Account{ObjectMeta: metav1.ObjectMeta{Name: name}}
	g.Expect(k8s.Create(context.Background(), acct)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, acct)
		g.Expect(acct.Status.Conditions).To(ContainElement(HaveField("Reason", koalav1.AccountReasonNamespaceTaken)))
	}, timeout).Should(Succeed())
	ns := &corev1.Namespace{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns)).To(Succeed())
	g.Expect(ns.Labels).NotTo(HaveKey(koalav1.AccountIDLabel))
}

func TestAccountNamesThatCannotNameANamespaceAreRefused(t *testing.T) {
	err := k8s.Create(context.Background(), &koalav1.Account{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}})
	NewWithT(t).Expect(err).To(MatchError(ContainSubstring("must be a DNS label")))
}

func TestDeletingAnAccountDeletesItsNamespace(t *testing.T) {
	g := NewWithT(t)
	acct := readyAccount(t, g, koalav1.AccountSpec{})
	g.Expect(k8s.Delete(context.Background(), acct)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(acct), &koalav1.Account{}))).To(BeTrue())
		ns := &corev1.Namespace{}
		err := k8s.Get(context.Background(), client.ObjectKey{Name: acct.Name}, ns)
		// Without a namespace controller here, the namespace stays Terminating.
		g.Expect(apierrors.IsNotFound(err) || ns.DeletionTimestamp != nil).To(BeTrue())
	}, timeout).Should(Succeed())
}

func keySecret(g Gomega, key *koalav1.AccessKey) *corev1.Secret {
	sec := &corev1.Secret{}
	g.ExpectWithOffset(1, key.Status.SecretRef).NotTo(BeNil())
	g.ExpectWithOffset(1, k8s.Get(context.Background(), client.ObjectKey{Namespace: key.Status.SecretRef.Namespace, Name: key.Status.SecretRef.Name}, sec)).To(Succeed())
	return sec
}

func TestAnAccessKeyGetsAKeyIDAndASecretInTheAccountsNamespace(t *testing.T) {
	g := NewWithT(t)
	acct := readyAccount(t, g, koalav1.AccountSpec{})
	key := &koalav1.AccessKey{ObjectMeta: metav1.ObjectMeta{Name: acct.Name + "-ci"}, Spec: koalav1.AccessKeySpec{Account: acct.Name}}
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, key)
		g.Expect(meta(key.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))
	}, timeout).Should(Succeed())
	g.Expect(key.Spec.Status).To(Equal(koalav1.AccessKeyActive), "defaulted")
	g.Expect(key.Spec.Permission).To(Equal(koalav1.PermissionFullAccess), "defaulted")
	g.Expect(key.Status.AccessKeyID).To(MatchRegexp(`^AKIA[A-Z2-7]{16}$`))
	sec := keySecret(g, key)
	g.Expect(sec.Namespace).To(Equal(acct.Name))
	g.Expect(string(sec.Data[koalav1.AccessKeyIDKey])).To(Equal(key.Status.AccessKeyID))
	g.Expect(sec.Data[koalav1.SecretAccessKeyKey]).To(HaveLen(40))
	g.Expect(sec.Labels).To(HaveKeyWithValue(koalav1.AccessKeyLabel, key.Name))
	g.Expect(metav1.IsControlledBy(sec, key)).To(BeTrue())
	g.Expect(regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`).Match(sec.Data[koalav1.SecretAccessKeyKey])).To(BeTrue())

	// A lost Secret is replaced by a new key: the old one is retired.
	old := key.Status.AccessKeyID
	g.Expect(k8s.Delete(context.Background(), sec)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, key)
		g.Expect(key.Status.AccessKeyID).NotTo(Equal(old))
		g.Expect(string(keySecret(g, key).Data[koalav1.AccessKeyIDKey])).To(Equal(key.Status.AccessKeyID))
	}, timeout).Should(Succeed())

	// Inactive keys say so; deleting the key deletes its Secret.
	patch := client.MergeFrom(key.DeepCopy())
	key.Spec.Status = koalav1.AccessKeyInactive
	g.Expect(k8s.Patch(context.Background(), key, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, key)
		g.Expect(key.Status.Conditions).To(ContainElement(HaveField("Reason", koalav1.AccessKeyReasonInactive)))
	}, timeout).Should(Succeed())
	ref := *key.Status.SecretRef
	g.Expect(k8s.Delete(context.Background(), key)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &corev1.Secret{}))
	}, timeout).Should(BeTrue())
}

func TestAnAccessKeyOfAnAccountThatDoesNotExistWaitsForIt(t *testing.T) {
	g := NewWithT(t)
	name := accountName(t)
	key := &koalav1.AccessKey{ObjectMeta: metav1.ObjectMeta{Name: name + "-early"}, Spec: koalav1.AccessKeySpec{Account: name}}
	g.Expect(k8s.Create(context.Background(), key)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, key)
		g.Expect(key.Status.Conditions).To(ContainElement(HaveField("Reason", koalav1.AccessKeyReasonAccountNotReady)))
	}, timeout).Should(Succeed())
	g.Expect(key.Status.SecretRef).To(BeNil())

	g.Expect(k8s.Create(context.Background(), &koalav1.Account{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, key)
		g.Expect(meta(key.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionTrue))
		g.Expect(strings.HasPrefix(key.Status.AccessKeyID, "AKIA")).To(BeTrue())
	}, timeout).Should(Succeed())
}

func TestAnInstanceOverTheAccountsQuotaWaitsUntilThereIsRoom(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	one := int32(1)
	acct := readyAccount(t, g, koalav1.AccountSpec{Quotas: koalav1.AccountQuotas{Instances: &one}})
	img := availableImage(t, g, acct.Status.Namespace)
	first := testgen.Instance("first", acct.Status.Namespace, img.Status.ImageID)
	g.Expect(k8s.Create(ctx, first)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, first)
		g.Expect(first.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())

	second := testgen.Instance("second", acct.Status.Namespace, img.Status.ImageID)
	g.Expect(k8s.Create(ctx, second)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, second)
		g.Expect(second.Status.State).To(Equal(koalav1.InstanceStatePending))
		c := readyCondition(second)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal("InstanceLimitExceeded"))
		g.Expect(second.Status.StateReason).NotTo(BeNil())
		g.Expect(second.Status.StateReason.Code).To(Equal("Client.InstanceLimitExceeded"))
	}, timeout).Should(Succeed())
	g.Consistently(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(second), &kubevirtv1.VirtualMachine{}))
	}, time.Second).Should(BeTrue(), "an instance over the quota must not get a VM")

	// Stopping the first makes room: the second launches without anyone touching it.
	patch := client.MergeFrom(first.DeepCopy())
	first.Spec.State = koalav1.DesiredStateStopped
	g.Expect(k8s.Patch(ctx, first, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, second)
		g.Expect(second.Status.State).To(Equal(koalav1.InstanceStateRunning))
	}, timeout).Should(Succeed())
}

func TestTheAccountsNamespaceGetsAResourceQuotaMatchingItsQuotas(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	two, three, five := int32(2), int32(3), int32(5)
	ten := int64(10)
	acct := readyAccount(t, g, koalav1.AccountSpec{Quotas: koalav1.AccountQuotas{Instances: &two, VolumeGiB: &ten, Snapshots: &three, Addresses: &five}})
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: acct.Status.Namespace, Name: controllers.AccountQuotaName}}
	g.Eventually(func(g Gomega) {
		get(g, rq)
		g.Expect(rq.Spec.Hard).To(HaveLen(4))
		g.Expect(rq.Spec.Hard.Name("count/virtualmachineinstances.kubevirt.io", resource.DecimalSI).Value()).To(Equal(int64(2)))
		g.Expect(rq.Spec.Hard.Name(corev1.ResourceRequestsStorage, resource.BinarySI).Value()).To(Equal(int64(10 << 30)))
		g.Expect(rq.Spec.Hard.Name("count/snapshots.cloud.koala.dev", resource.DecimalSI).Value()).To(Equal(int64(3)))
		g.Expect(rq.Spec.Hard.Name("count/addresses.cloud.koala.dev", resource.DecimalSI).Value()).To(Equal(int64(5)))
		g.Expect(metav1.IsControlledBy(rq, acct)).To(BeTrue())
	}, timeout).Should(Succeed())

	// vCPUs and memory alone are not the ResourceQuota's: changing the quotas to only
	// those removes it.
	get(g, acct)
	patch := client.MergeFrom(acct.DeepCopy())
	four := int32(4)
	acct.Spec.Quotas = koalav1.AccountQuotas{Snapshots: &four}
	g.Expect(k8s.Patch(ctx, acct, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, rq)
		g.Expect(rq.Spec.Hard).To(HaveLen(1))
		g.Expect(rq.Spec.Hard.Name("count/snapshots.cloud.koala.dev", resource.DecimalSI).Value()).To(Equal(int64(4)))
	}, timeout).Should(Succeed())
	get(g, acct)
	patch = client.MergeFrom(acct.DeepCopy())
	acct.Spec.Quotas = koalav1.AccountQuotas{VCPUs: &four}
	g.Expect(k8s.Patch(ctx, acct, patch)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(rq), rq))
	}, timeout).Should(BeTrue())
}
