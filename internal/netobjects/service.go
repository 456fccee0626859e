package netobjects

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// MetalLB's annotations: the address a Service asks for, and the pool it comes from.
// The metallb.universe.tf prefix is the one every MetalLB since v0.13 reads.
const (
	MetalLBAddressAnnotation = "metallb.universe.tf/loadBalancerIPs"
	MetalLBPoolAnnotation    = "metallb.universe.tf/address-pool"
)

// MaxForwardedPorts bounds the ports an Elastic IP's Service forwards: a group that
// opens a wide range (1024-65535, say) cannot be forwarded port by port.
const MaxForwardedPorts = 100

// ForwardedPorts are the Service ports of an Elastic IP: every TCP, UDP and SCTP port
// that an ingress rule of the instance's groups opens to an address range (a rule of
// another group's members concerns traffic that does not come through the Elastic IP;
// one of every protocol opens no port in particular). truncated is true when more
// than MaxForwardedPorts would be forwarded; the lowest ones are.
func ForwardedPorts(groups []*koalav1.SecurityGroup) (ports []corev1.ServicePort, truncated bool) {
	type key struct {
		proto corev1.Protocol
		port  int32
	}
	seen := map[key]bool{}
	var keys []key
	for _, g := range groups {
		for _, r := range g.Spec.Ingress {
			if r.CIDRIPv4 == "" {
				continue
			}
			ps, ok := policyPorts(r)
			if !ok || ps.all {
				continue
			}
			from, to := int32(1), int32(65535)
			if ps.port != nil {
				from = ps.port.IntVal
				to = from
				if ps.endPort != nil {
					to = *ps.endPort
				}
			}
			for p := from; p <= to; p++ {
				k := key{ps.protocol, p}
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
				if len(keys) > 4*MaxForwardedPorts {
					break // enough to know it is truncated; do not walk 65535 ports
				}
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].port != keys[j].port {
			return keys[i].port < keys[j].port
		}
		return keys[i].proto < keys[j].proto
	})
	if len(keys) > MaxForwardedPorts {
		keys, truncated = keys[:MaxForwardedPorts], true
	}
	for _, k := range keys {
		ports = append(ports, corev1.ServicePort{
			Name:       fmt.Sprintf("%s-%d", lower(k.proto), k.port),
			Protocol:   k.proto,
			Port:       k.port,
			TargetPort: intstr.FromInt32(k.port),
		})
	}
	return ports, truncated
}

func lower(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolTCP:
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	default:
		return "sctp"
	}
}

// ServiceName is the name of an Elastic IP's Service: its allocation ID.
func ServiceName(allocationID string) string { return allocationID }

// LoadBalancerService renders the Service that carries an Elastic IP to its instance:
// type LoadBalancer, asking MetalLB for exactly that address (from the pool's MetalLB
// pool when it names one), selecting the instance's virt-launcher pod by the label
// Koala puts on its VM template, and keeping the client's address
// (externalTrafficPolicy Local) so that the security groups' address ranges apply.
func LoadBalancerService(addr *koalav1.Address, ip string, instanceName string, ports []corev1.ServicePort, metallbPool string) *corev1.Service {
	annotations := map[string]string{MetalLBAddressAnnotation: ip}
	if metallbPool != "" {
		annotations[MetalLBPoolAnnotation] = metallbPool
	}
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ServiceName(addr.EC2ID()),
			Namespace:   addr.Namespace,
			Labels:      map[string]string{koalav1.AddressNameLabel: addr.Name},
			Annotations: annotations,
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			Selector:              map[string]string{koalav1.InstanceNameLabel: instanceName},
			Ports:                 ports,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        &single,
		},
	}
}
