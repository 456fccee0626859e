package chart_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// auditEvent is the part of a kube-apiserver audit event the checks read.
type auditEvent struct {
	Verb             string `json:"verb"`
	RequestURI       string `json:"requestURI"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Annotations map[string]string `json:"annotations"`
}

// request is one API request of a component, as RBAC sees it.
type request struct {
	verb, group, resource, namespace, name string
}

// grant is one verb on one resource (and name) that a chart's role gives, in the
// release's namespace (a Role) or everywhere (a ClusterRole); the audit check matches
// it by its verb's class.
type grant struct {
	component, class, group, resource, name string
	// verb is the role's own verb; class groups it with its like (verbClass).
	verb       string
	namespaced bool
}

// verbClass groups the verbs that come together, so that what the audit shows does not
// depend on the client library's choices or the API server's version:
//   - read: a cache lists and watches (or, with an API server that has watch-list,
//     only watches), and reads that must not be stale get;
//   - modify: update and patch change an object in place, with the same power;
//   - record: the events library creates an event and patches it when it repeats.
func verbClass(verb, resource string) string {
	switch {
	case resource == "events":
		return "record"
	case verb == "get" || verb == "list" || verb == "watch":
		return "read"
	case verb == "update" || verb == "patch":
		return "modify"
	}
	return verb
}

func (g grant) String() string {
	s := fmt.Sprintf("%s: %s %s", g.component, g.class, g.group+"/"+g.resource)
	if g.name != "" {
		s += " named " + g.name
	}
	if g.namespaced {
		s += " in the release's namespace"
	}
	return s
}

func (g grant) covers(r request) bool {
	return g.class == verbClass(r.verb, r.resource) && g.group == r.group && g.resource == r.resource &&
		(g.name == "" || g.name == r.name) && (!g.namespaced || r.namespace == releaseNamespace)
}

// mayStayUnused are permissions the chart grants that the scenario does not exercise,
// each with the reason the code needs it. Any other unused permission fails the test:
// the chart would grant more than the code uses.
var mayStayUnused = map[string]string{
	// Volumes, snapshots and images made from them (EBS): their own suites drive them;
	// this scenario is an instance's life.
	"ec2: create cloud.koala.dev/images":                       "CreateImage and RegisterImage",
	"ec2: delete cloud.koala.dev/images":                       "DeregisterImage",
	"ec2: modify cloud.koala.dev/images":                       "CreateTags and ModifyImageAttribute on an account's own image",
	"ec2: create cloud.koala.dev/snapshots":                    "CreateSnapshot and CopySnapshot",
	"ec2: delete cloud.koala.dev/snapshots":                    "DeleteSnapshot",
	"ec2: modify cloud.koala.dev/snapshots":                    "CreateTags on a snapshot",
	"ec2: delete cloud.koala.dev/volumes":                      "DeleteVolume",
	"ec2: modify cloud.koala.dev/volumes":                      "AttachVolume, DetachVolume and ModifyVolume",
	"operator: create cloud.koala.dev/volumes":                 "the root volume of an instance launched with block device mappings",
	"operator: modify cloud.koala.dev/snapshots":               "a snapshot's finalizer",
	"operator: modify cloud.koala.dev/snapshots/status":        "a snapshot's status",
	"operator: create snapshot.storage.k8s.io/volumesnapshots": "the VolumeSnapshot behind a snapshot",
	"operator: delete snapshot.storage.k8s.io/volumesnapshots": "a deleted snapshot's VolumeSnapshot",
	"operator: modify /persistentvolumeclaims":                 "a volume grown by ModifyVolume",
	"operator: modify cdi.kubevirt.io/datavolumes":             "a volume's DataVolume resized or re-attached",
	"operator: modify /resourcequotas":                         "an account's quotas changed",
	"operator: delete /resourcequotas":                         "an account's quotas removed",
	// Networks: the scenario's account gets its default VPC, subnets and group, and its
	// instance an address of the default subnet. The EC2 VPC, subnet, security group and
	// Elastic IP actions are registered in the endpoint separately; until the scenario
	// drives them, their grants are listed here.
	"ec2: create cloud.koala.dev/networks":                            "CreateVpc and CreateDefaultVpc",
	"ec2: delete cloud.koala.dev/networks":                            "DeleteVpc",
	"ec2: modify cloud.koala.dev/networks":                            "ModifyVpcAttribute and CreateTags on a VPC",
	"ec2: create cloud.koala.dev/subnets":                             "CreateSubnet",
	"ec2: delete cloud.koala.dev/subnets":                             "DeleteSubnet",
	"ec2: modify cloud.koala.dev/subnets":                             "ModifySubnetAttribute and CreateTags on a subnet",
	"ec2: create cloud.koala.dev/securitygroups":                      "CreateSecurityGroup",
	"ec2: delete cloud.koala.dev/securitygroups":                      "DeleteSecurityGroup",
	"ec2: create cloud.koala.dev/addresses":                           "AllocateAddress",
	"ec2: delete cloud.koala.dev/addresses":                           "ReleaseAddress",
	"ec2: modify cloud.koala.dev/addresses":                           "AssociateAddress and DisassociateAddress",
	"ec2: delete cloud.koala.dev/networkclaims":                       "a launch that fails after claiming its address gives it back; ReleaseAddress",
	"operator: create cloud.koala.dev/networkclaims":                  "an instance made with kubectl (the EC2 endpoint claims the address of those it launches), a VPC's VLAN, an Elastic IP's address",
	"operator: modify cloud.koala.dev/networks":                       "the finalizer of a VPC made with kubectl (the operator's own carry it from creation)",
	"operator: modify cloud.koala.dev/subnets":                        "the finalizer of a subnet made with kubectl",
	"operator: modify cloud.koala.dev/securitygroups":                 "the finalizer of a security group made with kubectl",
	"operator: delete cloud.koala.dev/subnets":                        "none yet: the default subnets are the VPC's to delete when it goes (DeleteVpc refuses while they exist)",
	"operator: delete cloud.koala.dev/securitygroups":                 "the default security group of a VPC being deleted",
	"operator: delete k8s.cni.cncf.io/network-attachment-definitions": "a deleted subnet's attachment",
	"operator: delete k8s.cni.cncf.io/multi-networkpolicies":          "a deleted security group's MultiNetworkPolicy",
	"operator: delete networking.k8s.io/networkpolicies":              "a deleted security group's NetworkPolicy",
	"operator: modify k8s.cni.cncf.io/network-attachment-definitions": "a subnet's attachment changed by hand gets its configuration back",
	"operator: modify cloud.koala.dev/addresspools/status":            "an address pool's counts, once the platform team declares one",
	"operator: modify cloud.koala.dev/addresses":                      "the finalizer of an Elastic IP made with kubectl",
	"operator: modify cloud.koala.dev/addresses/status":               "an Elastic IP's allocation and association",
	"operator: create /services":                                      "an associated Elastic IP's LoadBalancer Service",
	"operator: modify /services":                                      "an Elastic IP's Service follows its instance's open ports",
	"operator: delete /services":                                      "a disassociated or released Elastic IP's Service",
	"operator: modify kubevirt.io/virtualmachineinstances":            "a running instance whose security groups change is relabelled at once",
	"operator: read /pods":                                            "the virt-launcher pods of a running instance whose security groups change",
	"operator: modify /pods":                                          "relabelling those pods, so that the groups' policies select them at once",
	// Repairs of drift nobody causes in this scenario.
	"ec2: delete cloud.koala.dev/instances": "RunInstances without a client token undoes the instances it made when a later one fails",
	"operator: modify /namespaces":          "an account's namespace whose labels were changed by hand gets them back",
}

// readAudit returns the audit log's events of the chart's service accounts, by
// component.
func readAudit(t *testing.T, logPath string) map[string][]auditEvent {
	t.Helper()
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	users := map[string]string{serviceAccount("operator"): "operator", serviceAccount("ec2"): "ec2"}
	out := map[string][]auditEvent{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log: %v", err)
		}
		if e.ImpersonatedUser == nil {
			continue
		}
		if component, ok := users[e.ImpersonatedUser.Username]; ok {
			out[component] = append(out[component], e)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// refused lists the requests of the chart's service accounts that RBAC refused.
func refused(t *testing.T, logPath string) []string {
	t.Helper()
	var out []string
	for component, events := range readAudit(t, logPath) {
		for _, e := range events {
			if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
				out = append(out, fmt.Sprintf("%s: %s %s", component, e.Verb, e.RequestURI))
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkAudit reads the API server's audit log and checks, for each component's
// service account, that no request was refused or allowed by anything but the chart's
// bindings, and that every permission the chart grants was used (or is listed in
// mayStayUnused with its reason).
func checkAudit(t *testing.T, logPath string, r *rendering) {
	t.Helper()
	used := map[string][]request{}
	all := readAudit(t, logPath)
	for component, events := range all {
		for _, e := range events {
			if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
				t.Errorf("the %s's request %s %s was refused: %s", component, e.Verb, e.RequestURI, e.Annotations["authorization.k8s.io/reason"])
			}
			if e.ObjectRef == nil {
				continue // discovery (/api, /apis): every authenticated user may read it
			}
			if reason := e.Annotations["authorization.k8s.io/reason"]; !strings.Contains(reason, `"koala-`+component+`"`) {
				t.Errorf("the %s's request %s %s was allowed by %q, not by the chart's bindings", component, e.Verb, e.RequestURI, reason)
			}
			res := e.ObjectRef.Resource
			if e.ObjectRef.Subresource != "" {
				res += "/" + e.ObjectRef.Subresource
			}
			used[component] = append(used[component], request{verb: e.Verb, group: e.ObjectRef.APIGroup, resource: res,
				namespace: e.ObjectRef.Namespace, name: e.ObjectRef.Name})
		}
	}
	if len(used["operator"]) == 0 || len(used["ec2"]) == 0 {
		t.Fatal("the audit log has no requests of the service accounts: is impersonation on?")
	}

	var unused []string
	granted := map[string]bool{}
	for _, g := range grants(t, r) {
		if granted[g.String()] {
			continue
		}
		granted[g.String()] = true
		if strings.HasSuffix(g.resource, "/finalizers") {
			// Never a request of its own: the API server checks it when the component
			// writes an object whose owner reference blocks the owner's deletion
			// (OwnerReferencesPermissionEnforcement).
			continue
		}
		if g.class == "read" && strings.Contains(g.resource, "/") {
			// Reading a status subresource shows nothing that reading the object
			// (granted too) does not; controller-gen's convention grants it with the
			// status writes.
			continue
		}
		isUsed := false
		for _, req := range used[g.component] {
			if g.covers(req) {
				isUsed = true
				break
			}
		}
		if !isUsed {
			if _, ok := mayStayUnused[g.String()]; !ok {
				unused = append(unused, g.String())
			}
		}
	}
	sort.Strings(unused)
	for _, u := range unused {
		t.Errorf("the chart grants %q, which the scenario never used: use it, remove its marker, or say in mayStayUnused why the code needs it", u)
	}
	for k := range mayStayUnused {
		if !granted[k] {
			t.Errorf("mayStayUnused lists %q, which the chart does not grant: remove it", k)
		}
	}
}

// grants expands the rules of the chart's roles of both components into single
// permissions.
func grants(t *testing.T, r *rendering) []grant {
	t.Helper()
	var out []grant
	for _, component := range []string{"operator", "ec2"} {
		for kind, namespaced := range map[string]bool{"ClusterRole": false, "Role": true} {
			for _, role := range r.ofKind(kind) {
				if role.GetName() != "koala-"+component {
					continue
				}
				out = append(out, expand(t, component, role, namespaced)...)
			}
		}
	}
	return out
}

func expand(t *testing.T, component string, role *unstructured.Unstructured, namespaced bool) []grant {
	t.Helper()
	var out []grant
	for _, rule := range policyRules(t, role) {
		names := rule.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, verb := range rule.Verbs {
					for _, name := range names {
						out = append(out, grant{component: component, class: verbClass(verb, res), verb: verb, group: group, resource: res, name: name, namespaced: namespaced})
					}
				}
			}
		}
	}
	return out
}
