package kubevirtsim

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// scheduler places VMIs on the simulated nodes.
type scheduler struct {
	nodes []simNode
}

type simNode struct {
	name   string
	labels labels.Set
}

func newScheduler(nodes []Node) *scheduler {
	s := &scheduler{}
	for _, n := range nodes {
		s.nodes = append(s.nodes, simNode{name: n.Name, labels: nodeLabels(n)})
	}
	return s
}

// nodeLabels are the labels of a simulated node's Node object.
func nodeLabels(n Node) map[string]string {
	l := map[string]string{
		hostnameLabel:                    n.Name,
		"kubernetes.io/os":               "linux",
		"kubernetes.io/arch":             "amd64",
		virtv1.NodeSchedulable:           "true",
		SimulatedAnnotation:              simulatedValue,
		"node-role.kubernetes.io/worker": "",
	}
	if n.Zone != "" {
		l[zoneLabel] = n.Zone
	}
	return l
}

// schedule picks a node for vmi among those that match its nodeSelector and required
// node affinity. The choice depends only on the VMI's UID and the matching nodes, so a
// retried reconcile picks the same node. ok is false, with the scheduler's message,
// when no node matches.
func (s *scheduler) schedule(vmi *virtv1.VirtualMachineInstance) (node string, ok bool, message string) {
	var fits []string
	for _, n := range s.nodes {
		if nodeMatches(n.labels, vmi.Spec.NodeSelector, vmi.Spec.Affinity) {
			fits = append(fits, n.name)
		}
	}
	if len(fits) == 0 {
		total := len(s.nodes)
		return "", false, fmt.Sprintf("0/%d nodes are available: %d node(s) didn't match Pod's node affinity/selector. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling.", total, total, total, total)
	}
	h := fnv.New32a()
	h.Write([]byte(vmi.UID))
	return fits[int(h.Sum32()%uint32(len(fits)))], true, ""
}

// nodeMatches tells whether a node with nodeLabels satisfies nodeSelector and the
// required part of affinity.nodeAffinity (pod affinity is not simulated).
func nodeMatches(nodeLabels labels.Set, nodeSelector map[string]string, affinity *corev1.Affinity) bool {
	if !labels.SelectorFromSet(nodeSelector).Matches(nodeLabels) {
		return false
	}
	if affinity == nil || affinity.NodeAffinity == nil || affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	terms := affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return true
	}
	for _, term := range terms { // terms are ORed
		if termMatches(nodeLabels, term) {
			return true
		}
	}
	return false
}

func termMatches(nodeLabels labels.Set, term corev1.NodeSelectorTerm) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, expr := range term.MatchExpressions {
		var op selection.Operator
		switch expr.Operator {
		case corev1.NodeSelectorOpIn:
			op = selection.In
		case corev1.NodeSelectorOpNotIn:
			op = selection.NotIn
		case corev1.NodeSelectorOpExists:
			op = selection.Exists
		case corev1.NodeSelectorOpDoesNotExist:
			op = selection.DoesNotExist
		case corev1.NodeSelectorOpGt:
			op = selection.GreaterThan
		case corev1.NodeSelectorOpLt:
			op = selection.LessThan
		default:
			return false
		}
		req, err := labels.NewRequirement(expr.Key, op, expr.Values)
		if err != nil || !req.Matches(nodeLabels) {
			return false
		}
	}
	for _, f := range term.MatchFields {
		if f.Key != "metadata.name" {
			return false
		}
		name := nodeLabels[hostnameLabel]
		in := false
		for _, v := range f.Values {
			in = in || v == name
		}
		if (f.Operator == corev1.NodeSelectorOpIn) != in {
			return false
		}
	}
	return true
}

// nodeRunnable creates (or brings up to date) the simulated Node objects when the
// manager starts, and marks them Ready.
type nodeRunnable struct {
	sim *simulator
}

func (r *nodeRunnable) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName(componentName)
	for _, n := range r.sim.opts.Nodes {
		if err := r.ensureNode(ctx, n); err != nil {
			return fmt.Errorf("creating simulated node %s: %w", n.Name, err)
		}
		log.Info("simulated node ready", "node", n.Name, "zone", n.Zone)
	}
	return nil
}

// NeedLeaderElection is false: the nodes are created by every replica (it is
// idempotent), before any controller runs.
func (r *nodeRunnable) NeedLeaderElection() bool { return false }

func (r *nodeRunnable) ensureNode(ctx context.Context, n Node) error {
	c := r.sim.client
	node := &corev1.Node{}
	err := r.sim.reader.Get(ctx, types.NamespacedName{Name: n.Name}, node)
	switch {
	case apierrors.IsNotFound(err):
		node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Labels:      nodeLabels(n),
			Annotations: map[string]string{SimulatedAnnotation: simulatedValue},
		}}
		if err := c.Create(ctx, node); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		base := node.DeepCopy()
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		maps.Copy(node.Labels, nodeLabels(n))
		if n.Zone == "" {
			delete(node.Labels, zoneLabel)
		}
		node.Annotations[SimulatedAnnotation] = simulatedValue
		if !equality.Semantic.DeepEqual(base.ObjectMeta, node.ObjectMeta) {
			if err := c.Patch(ctx, node, client.MergeFrom(base)); err != nil {
				return err
			}
		}
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:        resource.MustParse("64"),
		corev1.ResourceMemory:     resource.MustParse("256Gi"),
		corev1.ResourcePods:       resource.MustParse("1000"),
		"devices.kubevirt.io/kvm": resource.MustParse("1k"),
	}
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{{
			Type:               corev1.NodeReady,
			Status:             corev1.ConditionTrue,
			Reason:             "KubeletReady",
			Message:            "simulated node (kubevirt simulator): there is no kubelet",
			LastHeartbeatTime:  now,
			LastTransitionTime: now,
		}},
		NodeInfo: corev1.NodeSystemInfo{
			Architecture:            "amd64",
			OperatingSystem:         "linux",
			OSImage:                 "Simulated Linux",
			KernelVersion:           "simulated",
			ContainerRuntimeVersion: "simulated://0",
			KubeletVersion:          "simulated",
		},
	}
	return c.Status().Update(ctx, node)
}
