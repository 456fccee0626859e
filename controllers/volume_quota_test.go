package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cdiv1beta1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/testgen"
)

func TestAKubectlVolumeOverTheAccountsStorageLimitWaitsForRoomAndSaysWhy(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ten := int64(10)
	acct := readyAccount(t, g, koalav1.AccountSpec{Quotas: koalav1.AccountQuotas{VolumeGiB: &ten}})
	ns := acct.Status.Namespace
	first := testgen.Volume("first", ns, "zone-a", 8)
	g.Expect(k8s.Create(ctx, first)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, first)
		g.Expect(first.Status.State).To(Equal(koalav1.VolumeStateAvailable))
	}, timeout).Should(Succeed())

	// 8 + 4 GiB pass the 10 GiB limit: the second gets no storage, and says why.
	time.Sleep(1100 * time.Millisecond) // creation timestamps have one-second precision
	second := testgen.Volume("second", ns, "zone-a", 4)
	g.Expect(k8s.Create(ctx, second)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, second)
		g.Expect(meta(second.Status.Conditions, koalav1.ReadyCondition)).To(Equal(metav1.ConditionFalse))
		var reason string
		for _, c := range second.Status.Conditions {
			if c.Type == koalav1.ReadyCondition {
				reason = c.Reason
			}
		}
		g.Expect(reason).To(Equal(koalav1.VolumeReasonVolumeLimitExceeded))
	}, timeout).Should(Succeed())
	g.Consistently(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(second), &cdiv1beta1.DataVolume{}))
	}, time.Second).Should(BeTrue(), "a volume over the limit must not get a DataVolume")

	// Deleting the first makes room: the second gets its storage without anyone
	// touching it.
	g.Expect(k8s.Delete(ctx, first)).To(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, second)
		g.Expect(second.Status.State).To(Equal(koalav1.VolumeStateAvailable))
	}, time.Minute).Should(Succeed())
}
