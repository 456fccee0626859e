package controllers_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/testgen"
)

// installAccountRoles applies config/rbac/account_roles.yaml as it is shipped.
func installAccountRoles(t *testing.T, g Gomega) {
	t.Helper()
	raw, err := os.ReadFile("../config/rbac/account_roles.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		role := &rbacv1.ClusterRole{}
		if err := dec.Decode(role); err != nil {
			break
		}
		if role.Name == "" {
			continue
		}
		if err := k8s.Create(context.Background(), role); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// as is a client that acts as the user (the API server authorizes it with RBAC).
func as(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bind(g Gomega, ns, role, user string) {
	g.ExpectWithOffset(1, k8s.Create(context.Background(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role + "-" + user, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
}

func TestTheAccountRolesLetAdminsChangeAndViewersReadTheirAccountOnly(t *testing.T) {
	g := NewWithT(t)
	installAccountRoles(t, g)
	acct := readyAccount(t, g, koalav1.AccountSpec{})
	other := readyAccount(t, g, koalav1.AccountSpec{})
	bind(g, acct.Name, "koala-account-admin", "bob")
	bind(g, acct.Name, "koala-account-viewer", "alice")
	ctx := context.Background()
	bob, alice := as(t, "bob"), as(t, "alice")

	// The API server authorizes from its informers' copy of roles and bindings, which
	// follows the writes above a moment later: until then bob and alice are refused.
	inst := testgen.Instance("web", acct.Name, "ami-0123456789abcdef0")
	g.Eventually(func() error { return bob.Create(ctx, inst) }, timeout).Should(Succeed(), "an admin launches in the account")
	var list koalav1.InstanceList
	g.Eventually(func() error { return alice.List(ctx, &list, client.InNamespace(acct.Name)) }, timeout).Should(Succeed(), "a viewer lists")
	g.Expect(list.Items).To(HaveLen(1))

	forbidden := func(err error) { g.ExpectWithOffset(1, apierrors.IsForbidden(err)).To(BeTrue(), "error %v", err) }
	forbidden(alice.Create(ctx, testgen.Instance("web2", acct.Name, "ami-0123456789abcdef0")))
	forbidden(alice.Delete(ctx, inst))
	forbidden(bob.List(ctx, &list, client.InNamespace(other.Name)))
	forbidden(bob.Create(ctx, testgen.Instance("web", other.Name, "ami-0123456789abcdef0")))
	forbidden(bob.Create(ctx, &koalav1.AccessKey{ObjectMeta: metav1.ObjectMeta{Name: "mine"}, Spec: koalav1.AccessKeySpec{Account: acct.Name}}))
	forbidden(bob.Create(ctx, &koalav1.Account{ObjectMeta: metav1.ObjectMeta{Name: "takeover"}}))
	// Status is the operator's: an admin cannot fake it.
	inst.Status.State = koalav1.InstanceStateRunning
	forbidden(bob.Status().Update(ctx, inst))
}
