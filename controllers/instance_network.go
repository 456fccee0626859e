package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubevirtv1 "kubevirt.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/index"
	"github.com/koala-dev/koala/internal/ipam"
	"github.com/koala-dev/koala/internal/netobjects"
)

// Annotations Koala keeps on the VM of an instance on a subnet: what the VM was built
// with, so that an operator that stopped before it recorded them in the instance's
// status finds them again rather than choosing anew.
const (
	vmSubnetAnnotation  = "cloud.koala.dev/subnet-id"
	vmAddressAnnotation = "cloud.koala.dev/private-ip-address"
)

// instanceNetwork is the instance's place on its subnet.
type instanceNetwork struct {
	subnet  *koalav1.Subnet
	vpc     *koalav1.Network
	address string
	// groups are the security groups the instance is in, sorted.
	groups []string
	mtu    int32
}

// nadRef is the Multus network name of the subnet's attachment.
func (n *instanceNetwork) nadRef() string {
	return n.subnet.Namespace + "/" + n.subnet.Status.NetworkAttachmentDefinition
}

// reconcileNetwork settles the instance's subnet, security groups and private address
// before its VM is made or updated. An instance launched without a subnet into an
// account that has no default VPC stays on the pod network alone, as before networks.
func (r *InstanceReconciler) reconcileNetwork(ctx context.Context, s *instanceScope) (ctrl.Result, error) {
	inst := s.instance
	if s.blocked != nil || r.Network.Allocator == nil {
		return ctrl.Result{}, nil
	}
	subnetID := inst.Status.SubnetID
	if subnetID == "" && s.vm != nil {
		// Launched by an operator that stopped before recording it; a VM made without a
		// subnet stays without one.
		subnetID = s.vm.Annotations[vmSubnetAnnotation]
		if subnetID == "" {
			return ctrl.Result{}, nil
		}
	}
	if subnetID == "" {
		subnetID = inst.Spec.SubnetID
	}
	var sub *koalav1.Subnet
	var err error
	if subnetID == "" {
		sub, err = r.defaultSubnet(ctx, s)
		if err != nil || sub == nil || s.blocked != nil {
			return ctrl.Result{}, err
		}
	} else if sub, err = subnetByID(ctx, r.Client, inst.Namespace, subnetID); err != nil {
		return ctrl.Result{}, err
	}
	if sub == nil || sub.Status.State != koalav1.NetworkStateAvailable || sub.Status.NetworkAttachmentDefinition == "" {
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonSubnetNotFound,
			Message: fmt.Sprintf("The subnet ID '%s' does not exist or is not available", subnetID)}
		return ctrl.Result{}, nil // the subnet's events bring us back
	}
	if inst.Status.AvailabilityZone != "" && sub.Zone() != "" && inst.Status.AvailabilityZone != sub.Zone() && inst.Spec.Placement.AvailabilityZone == "" && s.vm == nil {
		// The subnet decides the zone, as in EC2.
		inst.Status.AvailabilityZone = sub.Zone()
	}
	vpc, err := vpcByID(ctx, r.Client, inst.Namespace, sub.Spec.VPCID)
	if err != nil {
		return ctrl.Result{}, err
	}
	if vpc == nil {
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonSubnetNotFound,
			Message: fmt.Sprintf("The VPC %s of the subnet %s does not exist", sub.Spec.VPCID, sub.EC2ID())}
		return ctrl.Result{}, nil
	}
	groups, blocked, err := r.resolveGroups(ctx, inst, vpc)
	if err != nil || blocked != nil {
		s.blocked = blocked
		return ctrl.Result{}, err
	}
	net := &instanceNetwork{subnet: sub, vpc: vpc, groups: groups}
	if vpc.Status.ProviderNetwork != "" {
		pn := &koalav1.ProviderNetwork{}
		if err := r.Client.Get(ctx, client.ObjectKey{Name: vpc.Status.ProviderNetwork}, pn); err == nil {
			net.mtu = pn.Spec.MTU
		}
	}
	res, err := r.reconcileAddress(ctx, s, net)
	if err != nil || s.blocked != nil {
		return res, err
	}
	s.net = net
	pub, err := r.publicIP(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	inst.Status.PublicIPAddress = pub
	inst.Status.SubnetID, inst.Status.VPCID = sub.EC2ID(), vpc.EC2ID()
	inst.Status.SecurityGroupIDs = groups
	inst.Status.PrivateIPAddress = net.address
	return res, nil
}

// defaultSubnet is the default subnet of the instance's zone. nil with nothing blocked
// means the account has no default VPC: the instance goes on the pod network alone.
func (r *InstanceReconciler) defaultSubnet(ctx context.Context, s *instanceScope) (*koalav1.Subnet, error) {
	inst := s.instance
	var subnets koalav1.SubnetList
	if err := r.Client.List(ctx, &subnets, client.InNamespace(inst.Namespace)); err != nil {
		return nil, fmt.Errorf("listing subnets: %w", err)
	}
	var anyDefault *koalav1.Subnet
	for i := range subnets.Items {
		sub := &subnets.Items[i]
		if !sub.Spec.DefaultForAZ || !sub.DeletionTimestamp.IsZero() {
			continue
		}
		if sub.Zone() == inst.Status.AvailabilityZone {
			return sub, nil
		}
		anyDefault = sub
	}
	if anyDefault == nil {
		var vpcs koalav1.NetworkList
		if err := r.Client.List(ctx, &vpcs, client.InNamespace(inst.Namespace)); err != nil {
			return nil, fmt.Errorf("listing VPCs: %w", err)
		}
		for i := range vpcs.Items {
			if vpcs.Items[i].Spec.IsDefault && vpcs.Items[i].DeletionTimestamp.IsZero() {
				// Its default subnets are on their way.
				s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonSubnetNotFound,
					Message: "The default VPC has no default subnet yet"}
				return nil, nil
			}
		}
		if making, err := r.defaultVPCComing(ctx, inst.Namespace); err != nil || making {
			if making {
				s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonSubnetNotFound,
					Message: "The account's default VPC is being made"}
			}
			return nil, err
		}
		return nil, nil
	}
	if inst.Spec.Placement.AvailabilityZone != "" {
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonSubnetNotFound,
			Message: fmt.Sprintf("The default VPC has no default subnet in %s", inst.Status.AvailabilityZone)}
		return nil, nil
	}
	// Koala chose the zone: take one that has a default subnet.
	return anyDefault, nil
}

// resolveGroups returns the instance's security groups (spec's, else the VPC's default
// one), each a live group of the VPC.
func (r *InstanceReconciler) resolveGroups(ctx context.Context, inst *koalav1.Instance, vpc *koalav1.Network) ([]string, *metav1.Condition, error) {
	want := slices.Clone(inst.Spec.SecurityGroupIDs)
	if len(want) == 0 {
		if vpc.Status.DefaultSecurityGroupID == "" {
			return nil, &metav1.Condition{Reason: koalav1.InstanceReasonSecurityGroupNotFound,
				Message: fmt.Sprintf("The VPC %s has no default security group yet", vpc.EC2ID())}, nil
		}
		want = []string{vpc.Status.DefaultSecurityGroupID}
	}
	sort.Strings(want)
	want = slices.Compact(want)
	for _, id := range want {
		g, err := groupByID(ctx, r.Client, inst.Namespace, id)
		if err != nil {
			return nil, nil, err
		}
		if g == nil || g.Spec.VPCID != vpc.EC2ID() || !g.DeletionTimestamp.IsZero() {
			return nil, &metav1.Condition{Reason: koalav1.InstanceReasonSecurityGroupNotFound,
				Message: fmt.Sprintf("The security group '%s' does not exist in VPC '%s'", id, vpc.EC2ID())}, nil
		}
	}
	return want, nil, nil
}

func (r *InstanceReconciler) claimHolder(s *instanceScope) koalav1.ClaimHolder {
	return koalav1.ClaimHolder{Namespace: s.instance.Namespace, Name: s.instance.Name, ID: s.id}
}

// reconcileAddress holds the instance's address of its subnet: the recorded one (its
// claim made again if it went missing), else the one the VM was built with, else the
// one spec asks for, else a free one.
func (r *InstanceReconciler) reconcileAddress(ctx context.Context, s *instanceScope, net *instanceNetwork) (ctrl.Result, error) {
	inst := s.instance
	space, err := ipam.ParseSubnet(net.subnet.Spec.CIDRBlock)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("the subnet's range: %w", err)
	}
	holder := r.claimHolder(s)
	req := ipam.Request{Type: koalav1.ClaimPrivateAddress, Scope: net.subnet.EC2ID(), Space: space, Holder: holder}
	known := ""
	switch {
	case inst.Status.SubnetID == net.subnet.EC2ID() && inst.Status.PrivateIPAddress != "":
		known = inst.Status.PrivateIPAddress
	case s.vm != nil && s.vm.Annotations[vmAddressAnnotation] != "":
		known = s.vm.Annotations[vmAddressAnnotation]
	default:
		// A claim this instance made in a reconcile whose status write was lost.
		var claims koalav1.NetworkClaimList
		if err := r.Client.List(ctx, &claims, client.MatchingFields{index.ClaimHolder: index.ClaimHolderValue(holder.Namespace, holder.Name)}); err != nil {
			return ctrl.Result{}, fmt.Errorf("listing the instance's claims: %w", err)
		}
		for i := range claims.Items {
			if c := &claims.Items[i]; c.Spec.Holder == holder && c.Spec.Scope == req.Scope && c.Spec.Type == req.Type {
				known = c.Spec.Value
			}
		}
	}
	if known != "" {
		if h, err := r.Network.Allocator.Holder(ctx, req.Type, req.Scope, known); err == nil && h != nil && *h == holder {
			net.address = known
			return ctrl.Result{}, nil // the usual case: nothing to write
		}
		req.Value = known
	} else {
		req.Value = inst.Spec.PrivateIPAddress
	}
	value, err := r.Network.Allocator.Allocate(ctx, req)
	var inUse *ipam.InUseError
	switch {
	case err == nil:
		net.address = value
		return ctrl.Result{}, nil
	case errors.Is(err, ipam.ErrExhausted):
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonSubnetFull,
			Message: fmt.Sprintf("There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", req.Scope)}
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	case errors.As(err, &inUse):
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonAddressInUse,
			Message: fmt.Sprintf("Address %s is in use.", req.Value)}
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	case errors.Is(err, ipam.ErrOutOfRange):
		s.blocked = &metav1.Condition{Reason: koalav1.InstanceReasonAddressNotInSubnet,
			Message: fmt.Sprintf("Address %s is not in the usable range of subnet '%s' (%s).", req.Value, req.Scope, net.subnet.Spec.CIDRBlock)}
		return ctrl.Result{}, nil
	default:
		return ctrl.Result{}, fmt.Errorf("allocating the instance's address: %w", err)
	}
}

// releaseAddresses gives back every address the instance holds, once its VM is gone.
func (r *InstanceReconciler) releaseAddresses(ctx context.Context, s *instanceScope) error {
	if s.id == "" || r.Network.Allocator == nil {
		return nil
	}
	holder := r.claimHolder(s)
	var claims koalav1.NetworkClaimList
	if err := r.Client.List(ctx, &claims, client.MatchingFields{index.ClaimHolder: index.ClaimHolderValue(holder.Namespace, holder.Name)}); err != nil {
		return fmt.Errorf("listing the instance's claims: %w", err)
	}
	type key struct{ scope, value string }
	done := map[key]bool{}
	release := func(scope, value string) error {
		if done[key{scope, value}] || scope == "" || value == "" {
			return nil
		}
		done[key{scope, value}] = true
		return r.Network.Allocator.Release(ctx, koalav1.ClaimPrivateAddress, scope, value, holder)
	}
	if err := release(s.instance.Status.SubnetID, s.instance.Status.PrivateIPAddress); err != nil {
		return err
	}
	for i := range claims.Items {
		c := &claims.Items[i]
		if c.Spec.Type == koalav1.ClaimPrivateAddress && c.Spec.Holder == holder {
			if err := release(c.Spec.Scope, c.Spec.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupLabels are the member labels of the instance's groups.
func groupLabels(groups []string) map[string]string {
	out := make(map[string]string, len(groups))
	for _, g := range groups {
		out[koalav1.SecurityGroupMemberLabel(g)] = netobjects.MemberValue
	}
	return out
}

// syncGroupLabels relabels the running guest's VMI when the instance's groups change,
// so that the groups' policies select it at once rather than at its next start. (On a
// real cluster the virt-launcher pod carries the labels the policies match; KubeVirt
// copies a VMI's labels to its pod only at creation, so the pod is relabelled too.)
func (r *InstanceReconciler) syncGroupLabels(ctx context.Context, s *instanceScope) error {
	if s.net == nil || s.vmi == nil || !s.vmi.DeletionTimestamp.IsZero() {
		return nil
	}
	base := s.vmi.DeepCopy()
	if s.vmi.Labels == nil {
		s.vmi.Labels = map[string]string{}
	}
	if !syncLabels(s.vmi.Labels, s.net.groups) {
		return nil
	}
	if err := r.Client.Patch(ctx, s.vmi, client.MergeFrom(base)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return r.relabelPods(ctx, s)
}

// relabelPods carries the VMI's group labels to its virt-launcher pods, read past the
// cache (the operator caches no pods: there may be many, and this is rare).
func (r *InstanceReconciler) relabelPods(ctx context.Context, s *instanceScope) error {
	if r.APIReader == nil {
		return nil
	}
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(s.vmi.Namespace), client.MatchingLabels{kubevirtv1.CreatedByLabel: string(s.vmi.UID)}); err != nil {
		return fmt.Errorf("listing the guest's pods: %w", err)
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		base := pod.DeepCopy()
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		if !syncLabels(pod.Labels, s.net.groups) {
			continue
		}
		if err := r.Client.Patch(ctx, pod, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("relabelling pod %s: %w", pod.Name, err)
		}
	}
	return nil
}

// publicIP is the address of the Elastic IP associated with the instance, if any.
func (r *InstanceReconciler) publicIP(ctx context.Context, s *instanceScope) (string, error) {
	var list koalav1.AddressList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.instance.Namespace), client.MatchingFields{index.AddressInstanceID: s.id}); err != nil {
		return "", fmt.Errorf("listing the instance's Elastic IPs: %w", err)
	}
	for i := range list.Items {
		if a := &list.Items[i]; a.DeletionTimestamp.IsZero() && a.IP() != "" {
			return a.IP(), nil
		}
	}
	return "", nil
}

// defaultVPCComing reports whether the account of a namespace is about to get its
// default VPC: it never had one, and the cluster has a default provider network. An
// instance launched in that moment waits for it rather than staying off the VPC.
func (r *InstanceReconciler) defaultVPCComing(ctx context.Context, ns string) (bool, error) {
	acct := &koalav1.Account{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: ns}, acct); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if acct.Status.Namespace != ns || acct.Annotations[koalav1.DefaultVPCAnnotation] != "" {
		return false, nil
	}
	var pns koalav1.ProviderNetworkList
	if err := r.Client.List(ctx, &pns); err != nil {
		return false, fmt.Errorf("listing provider networks: %w", err)
	}
	return koalav1.DefaultProviderNetwork(pns.Items) != nil, nil
}
