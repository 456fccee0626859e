package instances

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// claimsStore counts the listings of a subnet's claims, and holds `held` of them.
type claimsStore struct {
	listStore
	held     int
	listings int
}

func (s *claimsStore) ClaimsOf(context.Context, string) ([]koalav1.NetworkClaim, error) {
	s.listings++
	return make([]koalav1.NetworkClaim, s.held), nil
}

func subnetWithFree(cidr string, free int64) *resolvedNetwork {
	sub := &koalav1.Subnet{}
	sub.Spec.CIDRBlock = cidr
	sub.Status.AvailableIPAddressCount = free
	return &resolvedNetwork{subnet: sub}
}

func TestALaunchIntoASubnetWithRoomToSpareDoesNotListItsClaims(t *testing.T) {
	g := NewWithT(t)
	s := &claimsStore{held: 10000}
	h := &Handlers{Store: s}
	in := runInput{minCount: 1, maxCount: 100}
	g.Expect(h.fitSubnet(context.Background(), subnetWithFree("10.0.0.0/16", 55531), &in)).To(Succeed())
	g.Expect(s.listings).To(BeZero(), "the status's count leaves room many times over")
	g.Expect(in.maxCount).To(Equal(100))
}

func TestALaunchIntoASubnetNearlyFullCountsItsClaimsExactly(t *testing.T) {
	g := NewWithT(t)
	// The status (refreshed every few seconds) still says there is room; the claims
	// say 5 addresses are left.
	s := &claimsStore{held: 4086}
	h := &Handlers{Store: s}
	in := runInput{minCount: 1, maxCount: 100}
	g.Expect(h.fitSubnet(context.Background(), subnetWithFree("172.31.0.0/20", 4091), &in)).To(Succeed())
	g.Expect(s.listings).To(Equal(1))
	g.Expect(in.maxCount).To(Equal(5), "as many as there are free addresses")

	in = runInput{minCount: 10, maxCount: 100}
	err := h.fitSubnet(context.Background(), subnetWithFree("172.31.0.0/20", 4091), &in)
	g.Expect(err).To(MatchError(ContainSubstring("not enough free addresses")))
}
