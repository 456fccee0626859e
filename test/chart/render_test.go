package chart_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/testenv"
)

// allFeatures are the chart's values with every optional feature on.
func allFeatures(t *testing.T) []string {
	return []string{"-f", filepath.Join(chartDir(t), "ci", "all-features-values.yaml")}
}

// valueSets are the renderings every structural check runs on.
func valueSets(t *testing.T) map[string][]string {
	return map[string][]string{
		"default values":            nil,
		"every optional feature on": allFeatures(t),
		"endpoint serving TLS itself": {"--set", "ec2.tls.secretName=ec2-tls",
			"--set", "ec2.service.type=LoadBalancer"},
	}
}

func TestTheChartLintsCleanWithDefaultValuesAndWithEveryFeatureOn(t *testing.T) {
	for name, args := range map[string][]string{"default values": nil, "every feature on": allFeatures(t)} {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"lint", "--strict", chartDir(t)}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("helm lint warns:\n%s", out)
			}
		})
	}
}

// podSpec returns a Deployment's pod template spec.
func podSpec(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	spec, ok, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec")
	if !ok {
		t.Fatalf("%s has no pod template", d.GetName())
	}
	return spec
}

func TestEveryPodOfTheChartIsRestrictedAndHasRequestsAndLimits(t *testing.T) {
	for name, args := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, args...)
			deploys := r.ofKind("Deployment")
			if len(deploys) != 2 {
				t.Fatalf("the chart renders %d Deployments, want the operator's and the endpoint's", len(deploys))
			}
			for _, d := range deploys {
				spec := podSpec(t, d)
				for _, field := range []string{"hostNetwork", "hostPID", "hostIPC"} {
					if v, _, _ := unstructured.NestedBool(spec, field); v {
						t.Errorf("%s: %s is set", d.GetName(), field)
					}
				}
				if v, _, _ := unstructured.NestedBool(spec, "securityContext", "runAsNonRoot"); !v {
					t.Errorf("%s: the pod does not run as non-root", d.GetName())
				}
				if v, _, _ := unstructured.NestedString(spec, "securityContext", "seccompProfile", "type"); v != "RuntimeDefault" {
					t.Errorf("%s: the pod's seccomp profile is %q, want RuntimeDefault", d.GetName(), v)
				}
				volumes, _, _ := unstructured.NestedSlice(spec, "volumes")
				for _, v := range volumes {
					for key := range v.(map[string]any) {
						switch key {
						case "name", "configMap", "secret", "emptyDir", "projected", "downwardAPI":
						default:
							t.Errorf("%s: volume type %s is not allowed by the restricted profile", d.GetName(), key)
						}
					}
				}
				containers, _, _ := unstructured.NestedSlice(spec, "containers")
				inits, _, _ := unstructured.NestedSlice(spec, "initContainers")
				for _, c := range append(containers, inits...) {
					checkContainer(t, d.GetName(), c.(map[string]any))
				}
			}
		})
	}
}

func checkContainer(t *testing.T, deploy string, c map[string]any) {
	t.Helper()
	name := deploy + "/" + c["name"].(string)
	sc, _, _ := unstructured.NestedMap(c, "securityContext")
	if v, ok, _ := unstructured.NestedBool(sc, "allowPrivilegeEscalation"); !ok || v {
		t.Errorf("%s: allowPrivilegeEscalation is not false", name)
	}
	if v, _, _ := unstructured.NestedBool(sc, "readOnlyRootFilesystem"); !v {
		t.Errorf("%s: the root file system is writable", name)
	}
	if v, _, _ := unstructured.NestedBool(sc, "privileged"); v {
		t.Errorf("%s: privileged", name)
	}
	if drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop"); !reflect.DeepEqual(drop, []string{"ALL"}) {
		t.Errorf("%s: drops capabilities %v, want ALL", name, drop)
	}
	if add, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "add"); len(add) > 0 {
		t.Errorf("%s: adds capabilities %v", name, add)
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, res := range []string{"cpu", "memory"} {
			if _, ok, _ := unstructured.NestedFieldNoCopy(c, "resources", kind, res); !ok {
				t.Errorf("%s: no %s %s", name, res, kind)
			}
		}
	}
	image, _ := c["image"].(string)
	if !strings.Contains(image, "/koala-operator") && !strings.Contains(image, "/koala-ec2") {
		t.Errorf("%s: image %q is neither Koala's operator nor its endpoint", name, image)
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if _, ok := c[probe]; !ok {
			t.Errorf("%s: no %s", name, probe)
		}
	}
}

func TestTheComponentsRunHighlyAvailable(t *testing.T) {
	r := mustRender(t)
	op := r.get(t, "Deployment", "koala-operator")
	if n, _, _ := unstructured.NestedInt64(op.Object, "spec", "replicas"); n < 2 {
		t.Errorf("the operator has %d replicas, want a standby", n)
	}
	if v, _ := argValue(containerArgs(t, op, nil), "leader-elect"); v != "true" {
		t.Errorf("the operator runs without leader election")
	}
	ec2 := r.get(t, "Deployment", "koala-ec2")
	if n, _, _ := unstructured.NestedInt64(ec2.Object, "spec", "replicas"); n < 2 {
		t.Errorf("the endpoint has %d replicas, want several", n)
	}
	for _, name := range []string{"koala-operator", "koala-ec2"} {
		pdb := r.get(t, "PodDisruptionBudget", name)
		sel, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
		deploy := r.get(t, "Deployment", name)
		labels, _, _ := unstructured.NestedStringMap(deploy.Object, "spec", "template", "metadata", "labels")
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("PodDisruptionBudget %s selects %s=%s, which its pods do not carry", name, k, v)
			}
		}
		if policy, _, _ := unstructured.NestedString(pdb.Object, "spec", "unhealthyPodEvictionPolicy"); policy != "AlwaysAllow" {
			t.Errorf("PodDisruptionBudget %s lets unready pods block node drains", name)
		}
	}
	if len(mustRender(t, "--set", "ec2.podDisruptionBudget.enabled=false").ofKind("PodDisruptionBudget")) != 1 {
		t.Error("disabling the endpoint's PodDisruptionBudget does not remove it")
	}
}

// generatedRules reads config/rbac's file of one component and returns the rules of
// its ClusterRole and of its Role.
func generatedRules(t *testing.T, file string) (cluster, namespaced []rbacv1.PolicyRule) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeYAML(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		rules := policyRules(t, o)
		switch o.GetKind() {
		case "ClusterRole":
			cluster = append(cluster, rules...)
		case "Role":
			namespaced = append(namespaced, rules...)
		}
	}
	return cluster, namespaced
}

func policyRules(t *testing.T, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return role.Rules
}

func TestTheChartGrantsExactlyTheRBACGeneratedFromTheCodesMarkers(t *testing.T) {
	r := mustRender(t)
	for component, file := range map[string]string{"operator": "role.yaml", "ec2": "ec2/role.yaml"} {
		name := "koala-" + component
		wantCluster, wantNamespaced := generatedRules(t, file)
		if got := policyRules(t, r.get(t, "ClusterRole", name)); !reflect.DeepEqual(got, wantCluster) {
			t.Errorf("ClusterRole %s grants\n%v\nbut the markers generate\n%v", name, got, wantCluster)
		}
		var gotNamespaced []rbacv1.PolicyRule
		for _, role := range r.ofKind("Role") {
			if role.GetName() == name {
				if role.GetNamespace() != releaseNamespace {
					t.Errorf("Role %s is in namespace %s, not the release's", name, role.GetNamespace())
				}
				gotNamespaced = policyRules(t, role)
			}
		}
		if !reflect.DeepEqual(gotNamespaced, wantNamespaced) {
			t.Errorf("Role %s grants\n%v\nbut the markers generate\n%v", name, gotNamespaced, wantNamespaced)
		}
		for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
			for _, b := range r.ofKind(kind) {
				if b.GetName() != name {
					continue
				}
				var binding rbacv1.RoleBinding
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(b.Object, &binding); err != nil {
					t.Fatal(err)
				}
				want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: releaseNamespace}}
				if !reflect.DeepEqual(binding.Subjects, want) || binding.RoleRef.Name != name {
					t.Errorf("%s %s binds %v to %s, want %v to %s", kind, name, binding.Subjects, binding.RoleRef.Name, want, name)
				}
			}
		}
	}
	// No rule of the chart, the account roles included, uses a wildcard.
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, role := range r.ofKind(kind) {
			for _, rule := range policyRules(t, role) {
				for _, s := range append(append(append(rule.Verbs, rule.Resources...), rule.APIGroups...), rule.NonResourceURLs...) {
					if strings.Contains(s, "*") {
						t.Errorf("%s %s has a wildcard rule: %+v", kind, role.GetName(), rule)
					}
				}
			}
		}
	}
	// The status ConfigMap the Role names is the one the chart creates and the operator
	// writes.
	r.get(t, "ConfigMap", operator.DefaultStatusConfigMap)
}

func TestTheChartsCRDsAreTheGeneratedOnes(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	got, _ := filepath.Glob(filepath.Join(chartDir(t), "crds", "*.yaml"))
	if len(got) != len(want) {
		t.Errorf("the chart has %d CRDs, config/crd/bases %d: run make manifests", len(got), len(want))
	}
	for _, w := range want {
		a, _ := os.ReadFile(w)
		b, err := os.ReadFile(filepath.Join(chartDir(t), "crds", filepath.Base(w)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("charts/koala/crds/%s differs from config/crd/bases: run make manifests", filepath.Base(w))
		}
	}
	if n := len(mustRender(t).ofKind("CustomResourceDefinition")); n != len(want) {
		t.Errorf("helm renders %d CRDs, want %d", n, len(want))
	}
}

func TestTheChartInstallsTheInstanceTypeCatalogAndNeverTheSimulator(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "instancetypes", "catalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := decodeYAML(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := mustRender(t, allFeatures(t)...)
	types := r.ofKind("VirtualMachineClusterInstancetype")
	if len(types) != len(catalog) || len(types) == 0 {
		t.Errorf("the chart installs %d instance types, the catalog has %d", len(types), len(catalog))
	}
	for i, it := range types {
		if it.GetName() != catalog[i].GetName() || !reflect.DeepEqual(it.Object["spec"], catalog[i].Object["spec"]) {
			t.Errorf("instance type %s differs from the catalog's %s", it.GetName(), catalog[i].GetName())
		}
		if it.GetLabels()["app.kubernetes.io/instance"] != releaseName {
			t.Errorf("instance type %s lacks the release's labels", it.GetName())
		}
	}
	if n := len(mustRender(t, "--set", "instanceTypes.install=false").ofKind("VirtualMachineClusterInstancetype")); n != 0 {
		t.Errorf("instanceTypes.install=false still installs %d types", n)
	}

	for _, o := range r.objects {
		if o.GetKind() == "CustomResourceDefinition" {
			continue // the CRDs' descriptions may mention whatever they like
		}
		text, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(string(text)), "simulat") {
			t.Errorf("%s %s mentions the simulator: the chart never installs it", o.GetKind(), o.GetName())
		}
	}
}

func TestOptionalObjectsFollowTheirValues(t *testing.T) {
	plain := mustRender(t)
	for _, kind := range []string{"Ingress", "ServiceMonitor"} {
		if n := len(plain.ofKind(kind)); n != 0 {
			t.Errorf("the default values render %d %s", n, kind)
		}
	}
	ep := func(r *rendering) string {
		for _, d := range r.ofKind("Deployment") {
			if strings.HasSuffix(d.GetName(), "-ec2") {
				v, _ := argValue(containerArgs(t, d, nil), "public-endpoint")
				return v
			}
		}
		t.Fatal("no endpoint Deployment")
		return ""
	}
	if got := ep(plain); got != "koala-ec2.koala-system.svc:8773" {
		t.Errorf("without an Ingress the endpoint calls itself %q, want its Service", got)
	}
	if args := containerArgs(t, plain.get(t, "Deployment", "koala-ec2"), nil); !contains(args, "--insecure-http") {
		t.Errorf("without a TLS Secret the endpoint must serve plain HTTP behind the Ingress: %v", args)
	}

	all := mustRender(t, allFeatures(t)...)
	ing := all.get(t, "Ingress", "cloud-ec2")
	tls, _, _ := unstructured.NestedSlice(ing.Object, "spec", "tls")
	if len(tls) != 1 {
		t.Errorf("the Ingress has no TLS: %v", ing.Object["spec"])
	}
	rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
	if len(rules) != 1 {
		t.Fatalf("Ingress rules %v", rules)
	}
	host, _, _ := unstructured.NestedString(rules[0].(map[string]any), "host")
	if host != "ec2.eu-koala-2.example.com" {
		t.Errorf("the Ingress serves %q", host)
	}
	sm := all.get(t, "ServiceMonitor", "cloud")
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	var monitored []string
	for _, svc := range all.ofKind("Service") {
		match := true
		for k, v := range sel {
			if svc.GetLabels()[k] != v {
				match = false
			}
		}
		if match {
			monitored = append(monitored, svc.GetName())
		}
	}
	if !reflect.DeepEqual(monitored, []string{"cloud-operator-metrics", "cloud-ec2-metrics"}) {
		t.Errorf("the ServiceMonitor selects %v, want both metrics Services", monitored)
	}
	if got := ep(all); got != "ec2.eu-koala-2.example.com" {
		t.Errorf("the endpoint calls itself %q, want publicEndpoint", got)
	}
	if got := ep(mustRender(t, "--set", "ec2.ingress.enabled=true", "--set", "ec2.ingress.host=ec2.example.org")); got != "ec2.example.org" {
		t.Errorf("with an Ingress the endpoint calls itself %q, want its host", got)
	}
	tlsArgs := containerArgs(t, mustRender(t, "--set", "ec2.tls.secretName=x").get(t, "Deployment", "koala-ec2"), nil)
	if contains(tlsArgs, "--insecure-http") || !contains(tlsArgs, "--tls-cert-file=/etc/koala/tls/tls.crt") {
		t.Errorf("with a TLS Secret the endpoint must serve HTTPS: %v", tlsArgs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestTheValuesSchemaRefusesMistakesBeforeAnythingIsInstalled(t *testing.T) {
	cases := map[string]struct {
		args []string
		says string
	}{
		"an unknown key is refused, so a typo is not silently ignored": {
			[]string{"--set", "ec2.replicaz=3"}, "replicaz"},
		"replicas must be a number": {
			[]string{"--set-string", "operator.replicas=two"}, "replicas"},
		"an endpoint without replicas is refused": {
			[]string{"--set", "ec2.replicas=0"}, "replicas"},
		"resource limits cannot be dropped": {
			[]string{"--set", "operator.resources.limits=null"}, "limits"},
		"a region must look like one": {
			[]string{"--set", "region=US_EAST"}, "region"},
		"a retention must be a duration": {
			[]string{"--set", "operator.terminatedRetention=forever"}, "terminatedRetention"},
		"a provider network is a bridge or a vlan": {
			[]string{"--set", "networks.providerNetworks[0].name=p,networks.providerNetworks[0].type=ovs,networks.providerNetworks[0].bridge=br0"}, "type"},
		"a vlan network needs its VLAN range": {
			[]string{"--set", "networks.providerNetworks[0].name=p,networks.providerNetworks[0].type=vlan,networks.providerNetworks[0].bridge=br0"}, "vlanRange"},
		"an address pool's addresses are CIDRs or ranges": {
			[]string{"--set", "networks.addressPools[0].name=p,networks.addressPools[0].addresses[0]=the-internet"}, "addresses"},
		"an image digest is a sha256 digest": {
			[]string{"--set", "operator.image.digest=latest"}, "digest"},
		"a throttle bucket is burst,refill": {
			[]string{"--set", "ec2.throttle.buckets.mutating=fast"}, "mutating"},
		"the Service type is one Kubernetes has": {
			[]string{"--set", "ec2.service.type=Ingress"}, "type"},
		"a volume type maps to storage and snapshot classes only": {
			[]string{"--set", "storage.volumeTypes.gp3.iops=3000"}, "iops"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := render(t, "", tc.args...)
			if err == nil {
				t.Fatal("helm template accepted the values")
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("the refusal does not come from the schema or does not name %q: %v", tc.says, err)
			}
		})
	}
}

func TestTheChartsArgumentsAreFlagsTheBinariesAccept(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/koala-operator", "./cmd/koala-ec2")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the binaries: %v\n%s", err, out)
	}
	for name, args := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			r := mustRender(t, args...)
			for _, d := range r.ofKind("Deployment") {
				containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
				c := containers[0].(map[string]any)
				binary := "koala-ec2"
				if strings.Contains(c["image"].(string), "koala-operator") {
					binary = "koala-operator"
				}
				args := containerArgs(t, d, map[string]string{"POD_NAMESPACE": releaseNamespace})
				// -h after the chart's arguments: the binary parses them all, then
				// prints its usage instead of starting.
				out, _ := exec.Command(filepath.Join(bin, binary), append(args, "-h")...).CombinedOutput()
				for _, bad := range []string{"provided but not defined", "invalid value", "invalid boolean"} {
					if strings.Contains(string(out), bad) {
						t.Errorf("%s refuses the chart's arguments %v:\n%s", binary, args, out)
					}
				}
				if !strings.Contains(string(out), "Usage") {
					t.Errorf("%s did not parse its arguments: %s", binary, out)
				}
			}
		})
	}
}

func TestStorageClassesAndNetworksComeFromValues(t *testing.T) {
	plain := mustRender(t)
	args := containerArgs(t, plain.get(t, "Deployment", "koala-operator"), map[string]string{"POD_NAMESPACE": releaseNamespace})
	for _, flag := range []string{"volume-storage-classes", "default-storage-class", "snapshot-class", "volume-snapshot-classes"} {
		if v, ok := argValue(args, flag); ok {
			t.Errorf("the default values pass --%s=%s: the cluster's defaults should apply", flag, v)
		}
	}
	if n := len(plain.ofKind("ProviderNetwork")) + len(plain.ofKind("AddressPool")); n != 0 {
		t.Errorf("the default values install %d networks or pools", n)
	}

	all := mustRender(t, allFeatures(t)...)
	args = containerArgs(t, all.get(t, "Deployment", "cloud-operator"), map[string]string{"POD_NAMESPACE": releaseNamespace})
	want := map[string]string{
		"volume-storage-classes": "gp3=ceph-rbd,io2=local-nvme",
		"default-storage-class":  "ceph-rbd",
		"snapshot-class":         "ceph-rbd-snapshots",
		// io2 has a snapshot class of its own; gp3 takes snapshot-class.
		"volume-snapshot-classes": "io2=local-nvme-snapshots",
	}
	for flag, v := range want {
		if got, _ := argValue(args, flag); got != v {
			t.Errorf("--%s=%q, want %q", flag, got, v)
		}
	}
	pn := all.get(t, "ProviderNetwork", "physnet1")
	if typ, _, _ := unstructured.NestedString(pn.Object, "spec", "type"); typ != "vlan" {
		t.Errorf("physnet1 has type %q", typ)
	}
	if min, _, _ := unstructured.NestedInt64(pn.Object, "spec", "vlanRange", "min"); min != 100 {
		t.Errorf("physnet1's VLAN range starts at %d", min)
	}
	if def, _, _ := unstructured.NestedBool(pn.Object, "spec", "default"); !def {
		t.Error("physnet1 is not the default provider network")
	}
	if _, found, _ := unstructured.NestedBool(all.get(t, "ProviderNetwork", "flat").Object, "spec", "default"); found {
		t.Error("flat is marked default")
	}
	pool := all.get(t, "AddressPool", "public")
	addrs, _, _ := unstructured.NestedStringSlice(pool.Object, "spec", "addresses")
	if !reflect.DeepEqual(addrs, []string{"203.0.113.0/24", "198.51.100.10-198.51.100.20"}) {
		t.Errorf("the pool's addresses are %v", addrs)
	}
	if mlb, _, _ := unstructured.NestedString(pool.Object, "spec", "metallbAddressPool"); mlb != "koala-public" {
		t.Errorf("the pool is announced by %q", mlb)
	}
	// A volume type that is no EBS type is refused before anything is installed.
	if _, err := render(t, "", "--set", "storage.volumeTypes.fast.storageClassName=x"); err == nil {
		t.Error("the schema accepts the volume type \"fast\"")
	}
}
