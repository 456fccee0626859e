package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// One environment for the cases below: a control plane costs tens of seconds of CPU.
func TestTheControllerManagerMakesTheAPIServerBehaveAsACluster(t *testing.T) {
	g := NewWithT(t)
	env, err := Start(Options{ControllerManager: true})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	g.Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	const timeout = 2 * time.Minute

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}
	g.Expect(c.Create(ctx, ns)).To(Succeed())

	t.Run("a ResourceQuota on a Koala kind refuses the object over the limit", func(t *testing.T) {
		g := NewWithT(t)
		rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "snapshots"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/snapshots.cloud.koala.dev": resource.MustParse("1")}}}
		g.Expect(c.Create(ctx, rq)).To(Succeed())
		// Admission enforces only what the resourcequota controller has computed.
		g.Eventually(func(g Gomega) {
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(rq), rq)).To(Succeed())
			g.Expect(rq.Status.Used).To(HaveKey(corev1.ResourceName("count/snapshots.cloud.koala.dev")))
		}, timeout, 200*time.Millisecond).Should(Succeed())
		snap := func(name string) *koalav1.Snapshot {
			return &koalav1.Snapshot{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name},
				Spec: koalav1.SnapshotSpec{VolumeID: "vol-0123456789abcdef0"}}
		}
		g.Expect(c.Create(ctx, snap("first"))).To(Succeed())
		err := c.Create(ctx, snap("second"))
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "error: %v", err)
		g.Expect(err.Error()).To(ContainSubstring("exceeded quota"))
	})

	t.Run("an object whose owner is deleted is collected", func(t *testing.T) {
		g := NewWithT(t)
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "owner"}}
		g.Expect(c.Create(ctx, owner)).To(Succeed())
		owned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "owned",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: ptr.To(true)}}}}
		g.Expect(c.Create(ctx, owned)).To(Succeed())
		g.Expect(c.Delete(ctx, owner)).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(owned), owned))
		}, timeout, 200*time.Millisecond).Should(BeTrue())
	})

	t.Run("a deleted namespace goes away with its content", func(t *testing.T) {
		g := NewWithT(t)
		g.Expect(c.Delete(ctx, ns)).To(Succeed())
		g.Eventually(func() bool {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(ns), ns))
		}, timeout, 200*time.Millisecond).Should(BeTrue())
	})
}

// A health check answered by another process on the port (one that took it between
// its choice and the controller manager's bind) does not pass for the controller
// manager's: only its own serving certificate counts.
func TestTheHealthCheckCountsOnlyTheControllerManagersOwnCertificate(t *testing.T) {
	g := NewWithT(t)
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer other.Close()
	port := other.Listener.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	ownCert := filepath.Join(dir, "kube-controller-manager.crt")
	cm := &controllerManager{exited: make(chan struct{})}

	// The controller manager's certificate is another one than the server's.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	g.Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-controller-manager"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(os.WriteFile(ownCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)).To(Succeed())
	g.Expect(cm.waitHealthy(port, ownCert, time.Second)).NotTo(Succeed(), "another server's answer passed for the controller manager's")

	// The server's own certificate: its answer counts.
	g.Expect(os.WriteFile(ownCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Certificate().Raw}), 0o600)).To(Succeed())
	g.Expect(cm.waitHealthy(port, ownCert, time.Second)).To(Succeed())
}
