// Package controllers holds Koala's reconcilers, one per kind: Instance, Image and
// KeyPair. Each is wired explicitly by cmd/.
package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/index"
)

// chooseID decides the EC2 ID of an object the first time the operator sees it: the ID
// the EC2 endpoint asked for in the ID annotation, when it is well formed and no other
// object has it; else one derived from the object's UID. Both are stable: a reconcile
// that is repeated (after a crash, say) chooses the same ID again.
func chooseID(ctx context.Context, c client.Reader, list client.ObjectList, obj client.Object, prefix, requested string) (string, error) {
	if requested != "" && ids.Valid(prefix, requested) {
		if err := c.List(ctx, list, client.MatchingFields{index.EC2ID: requested}); err != nil {
			return "", fmt.Errorf("looking up EC2 ID %s: %w", requested, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return "", err
		}
		taken := false
		for _, item := range items {
			if other, ok := item.(client.Object); ok && other.GetUID() != obj.GetUID() {
				taken = true
			}
		}
		if !taken {
			return requested, nil
		}
	}
	return ids.FromSeed(prefix, string(obj.GetUID())), nil
}
