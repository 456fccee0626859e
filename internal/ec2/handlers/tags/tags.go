// Package tags answers EC2's tag actions over every taggable Koala kind: CreateTags,
// DeleteTags and DescribeTags.
package tags

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
)

// Store is what the handlers read and write.
type Store interface {
	Instance(ctx context.Context, acct store.Account, id string) (*koalav1.Instance, error)
	Instances(ctx context.Context, acct store.Account) ([]koalav1.Instance, error)
	Image(ctx context.Context, acct store.Account, id string) (*koalav1.Image, error)
	Images(ctx context.Context, acct store.Account) ([]koalav1.Image, error)
	KeyPair(ctx context.Context, acct store.Account, id string) (*koalav1.KeyPair, error)
	KeyPairs(ctx context.Context, acct store.Account) ([]koalav1.KeyPair, error)
	Volume(ctx context.Context, acct store.Account, id string) (*koalav1.Volume, error)
	Volumes(ctx context.Context, acct store.Account) ([]koalav1.Volume, error)
	Snapshot(ctx context.Context, acct store.Account, id string) (*koalav1.Snapshot, error)
	Snapshots(ctx context.Context, acct store.Account) ([]koalav1.Snapshot, error)
	VPC(ctx context.Context, acct store.Account, id string) (*koalav1.Network, error)
	VPCs(ctx context.Context, acct store.Account) ([]koalav1.Network, error)
	Subnet(ctx context.Context, acct store.Account, id string) (*koalav1.Subnet, error)
	Subnets(ctx context.Context, acct store.Account) ([]koalav1.Subnet, error)
	SecurityGroup(ctx context.Context, acct store.Account, id string) (*koalav1.SecurityGroup, error)
	SecurityGroups(ctx context.Context, acct store.Account) ([]koalav1.SecurityGroup, error)
	Address(ctx context.Context, acct store.Account, id string) (*koalav1.Address, error)
	Addresses(ctx context.Context, acct store.Account) ([]koalav1.Address, error)
	store.Writer
}

// Handlers answers the tag actions.
type Handlers struct {
	Store Store
}

// Actions returns the tag actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("CreateTags", true, parseCreate, h.create),
		action.Bind("DeleteTags", true, parseDelete, h.delete),
		action.Bind("DescribeTags", false, parseDescribe, h.describe),
	}
}

// resource is a taggable object: its EC2 ID and type, and where its tags live.
type resource struct {
	id    string
	rtype string
	obj   client.Object
	tags  *koalav1.Tags
}

// kinds maps ID prefixes to EC2 resource types.
var kinds = map[string]string{
	ids.Instance: "instance", ids.Image: "image", ids.KeyPair: "key-pair", ids.Volume: "volume", ids.Snapshot: "snapshot",
	ids.VPC: "vpc", ids.Subnet: "subnet", ids.SecurityGroup: "security-group", ids.Allocation: "elastic-ip",
}

func notFound(prefix, id string) error {
	switch prefix {
	case ids.Instance:
		return protocol.Errorf(protocol.CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", id)
	case ids.Image:
		return protocol.Errorf(protocol.CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", id)
	case ids.Volume:
		return protocol.Errorf(protocol.CodeInvalidVolumeNotFound, "The volume '%s' does not exist.", id)
	case ids.Snapshot:
		return protocol.Errorf(protocol.CodeInvalidSnapshotNotFound, "The snapshot '%s' does not exist.", id)
	case ids.VPC:
		return protocol.Errorf(protocol.CodeInvalidVpcIDNotFound, "The vpc ID '%s' does not exist", id)
	case ids.Subnet:
		return protocol.Errorf(protocol.CodeInvalidSubnetIDNotFound, "The subnet ID '%s' does not exist", id)
	case ids.SecurityGroup:
		return protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist", id)
	case ids.Allocation:
		return protocol.Errorf(protocol.CodeInvalidAllocationIDNotFound, "The allocation ID '%s' does not exist", id)
	default:
		return protocol.Errorf(protocol.CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", id)
	}
}

// find returns the account's resource with that ID. Only resources the account owns
// can be tagged: a public image of the platform is not found.
func (h *Handlers) find(ctx context.Context, acct store.Account, id string) (*resource, error) {
	prefix := ids.PrefixOf(id)
	if _, ok := kinds[prefix]; !ok || !ids.Valid(prefix, id) {
		return nil, protocol.Errorf(protocol.CodeInvalidID, "The ID '%s' is not valid", id)
	}
	switch prefix {
	case ids.Instance:
		inst, err := h.Store.Instance(ctx, acct, id)
		if err != nil || inst == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "instance", obj: inst, tags: &inst.Spec.Tags}, nil
	case ids.Image:
		img, err := h.Store.Image(ctx, acct, id)
		if err != nil || img == nil || img.Namespace != acct.Namespace {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "image", obj: img, tags: &img.Spec.Tags}, nil
	case ids.Volume:
		v, err := h.Store.Volume(ctx, acct, id)
		if err != nil || v == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "volume", obj: v, tags: &v.Spec.Tags}, nil
	case ids.Snapshot:
		snap, err := h.Store.Snapshot(ctx, acct, id)
		if err != nil || snap == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "snapshot", obj: snap, tags: &snap.Spec.Tags}, nil
	case ids.VPC:
		n, err := h.Store.VPC(ctx, acct, id)
		if err != nil || n == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "vpc", obj: n, tags: &n.Spec.Tags}, nil
	case ids.Subnet:
		sub, err := h.Store.Subnet(ctx, acct, id)
		if err != nil || sub == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "subnet", obj: sub, tags: &sub.Spec.Tags}, nil
	case ids.SecurityGroup:
		sg, err := h.Store.SecurityGroup(ctx, acct, id)
		if err != nil || sg == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "security-group", obj: sg, tags: &sg.Spec.Tags}, nil
	case ids.Allocation:
		a, err := h.Store.Address(ctx, acct, id)
		if err != nil || a == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "elastic-ip", obj: a, tags: &a.Spec.Tags}, nil
	default:
		kp, err := h.Store.KeyPair(ctx, acct, id)
		if err != nil || kp == nil {
			return nil, orNotFound(err, prefix, id)
		}
		return &resource{id: id, rtype: "key-pair", obj: kp, tags: &kp.Spec.Tags}, nil
	}
}

func orNotFound(err error, prefix, id string) error {
	if err != nil {
		return err
	}
	return notFound(prefix, id)
}

type changeInput struct {
	ids  []string
	tags []tagging.Tag
}

func parseChange(p *protocol.Params, needTags bool) (changeInput, error) {
	var in changeInput
	var err error
	if in.ids, err = p.Strings("ResourceId"); err != nil {
		return in, err
	}
	if len(in.ids) == 0 {
		return in, protocol.MissingParameter("ResourceId")
	}
	if len(in.ids) > 1000 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "At most 1000 resource IDs may be given")
	}
	if in.tags, err = tagging.ParseTags(p, "Tag"); err != nil {
		return in, err
	}
	if needTags && len(in.tags) == 0 {
		return in, protocol.MissingParameter("Tag")
	}
	return in, nil
}

func parseCreate(p *protocol.Params) (changeInput, error) { return parseChange(p, true) }
func parseDelete(p *protocol.Params) (changeInput, error) { return parseChange(p, false) }

// change applies edit to the tags of every resource named, after checking that they
// all exist and that the edit is valid for each, so that nothing changes on error.
func (h *Handlers) change(ctx context.Context, c *action.Call, idList []string, edit func(map[string]string) (map[string]string, error)) error {
	var found []*resource
	var next []map[string]string
	for _, id := range idList {
		r, err := h.find(ctx, c.Account, id)
		if err != nil {
			return err
		}
		tags, err := edit(*r.tags)
		if err != nil {
			return err
		}
		found = append(found, r)
		next = append(next, tags)
	}
	for i, r := range found {
		base := r.obj.DeepCopyObject().(client.Object)
		*r.tags = next[i]
		if err := h.Store.Patch(ctx, r.obj, client.MergeFrom(base)); err != nil {
			return fmt.Errorf("tagging %s: %w", r.id, err)
		}
	}
	return nil
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in changeInput) (protocol.Body, error) {
	err := h.change(ctx, c, in.ids, func(tags map[string]string) (map[string]string, error) {
		return tagging.Merge(tags, in.tags)
	})
	if err != nil {
		return nil, err
	}
	return protocol.OK(), nil
}

// delete removes the tags given (only where the value matches, when one is given), or
// every tag when none is given, as EC2 does.
func (h *Handlers) delete(ctx context.Context, c *action.Call, in changeInput) (protocol.Body, error) {
	err := h.change(ctx, c, in.ids, func(tags map[string]string) (map[string]string, error) {
		if len(in.tags) == 0 {
			return nil, nil
		}
		return tagging.Remove(tags, in.tags), nil
	})
	if err != nil {
		return nil, err
	}
	return protocol.OK(), nil
}

// tagRow is one row of DescribeTags: a tag of a resource.
type tagRow struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

var rowFilters = filter.Schema[*tagRow]{
	Fields: map[string]func(*tagRow) []string{
		"resource-id":   func(r *tagRow) []string { return []string{r.ResourceID} },
		"resource-type": func(r *tagRow) []string { return []string{r.ResourceType} },
		"key":           func(r *tagRow) []string { return []string{r.Key} },
		"value":         func(r *tagRow) []string { return []string{r.Value} },
		"tag-key":       func(r *tagRow) []string { return []string{r.Key} },
		"tag-value":     func(r *tagRow) []string { return []string{r.Value} },
	},
}

type describeInput struct {
	filters []filter.Filter
	// tagFilters are tag:<key> filters: they select resources, whose rows are then all
	// candidates.
	tagFilters []filter.Filter
	max        int
	token      string
	scope      string
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	fs, err := p.Filters()
	if err != nil {
		return in, err
	}
	for _, f := range fs {
		if strings.HasPrefix(f.Name, "tag:") {
			in.tagFilters = append(in.tagFilters, f)
		} else {
			in.filters = append(in.filters, f)
		}
	}
	max, _, err := p.Int("MaxResults", 5, 1000)
	if err != nil {
		return in, err
	}
	in.max = int(max)
	in.token, _ = p.String("NextToken")
	in.scope = "DescribeTags?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

type describeResponse struct {
	protocol.Meta
	TagSet    []tagRow `xml:"tagSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}

// taggedResource is a resource seen by DescribeTags.
type taggedResource struct {
	id, rtype string
	tags      map[string]string
}

var resourceFilters = filter.Schema[*taggedResource]{
	Fields: map[string]func(*taggedResource) []string{},
	Tags:   func(r *taggedResource) map[string]string { return r.tags },
}

func (h *Handlers) resources(ctx context.Context, acct store.Account) ([]taggedResource, error) {
	var out []taggedResource
	insts, err := h.Store.Instances(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range insts {
		if id := insts[i].EC2ID(); id != "" && len(insts[i].Spec.Tags) > 0 {
			out = append(out, taggedResource{id: id, rtype: "instance", tags: insts[i].Spec.Tags})
		}
	}
	imgs, err := h.Store.Images(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range imgs {
		// Tags belong to their owner: another account's public image shows none.
		if id := imgs[i].EC2ID(); id != "" && imgs[i].Namespace == acct.Namespace && len(imgs[i].Spec.Tags) > 0 {
			out = append(out, taggedResource{id: id, rtype: "image", tags: imgs[i].Spec.Tags})
		}
	}
	kps, err := h.Store.KeyPairs(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range kps {
		if id := kps[i].EC2ID(); id != "" && len(kps[i].Spec.Tags) > 0 {
			out = append(out, taggedResource{id: id, rtype: "key-pair", tags: kps[i].Spec.Tags})
		}
	}
	vols, err := h.Store.Volumes(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range vols {
		if id := vols[i].EC2ID(); id != "" && len(vols[i].Spec.Tags) > 0 {
			out = append(out, taggedResource{id: id, rtype: "volume", tags: vols[i].Spec.Tags})
		}
	}
	snaps, err := h.Store.Snapshots(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range snaps {
		if id := snaps[i].EC2ID(); id != "" && len(snaps[i].Spec.Tags) > 0 {
			out = append(out, taggedResource{id: id, rtype: "snapshot", tags: snaps[i].Spec.Tags})
		}
	}
	vpcs, err := h.Store.VPCs(ctx, acct)
	if err != nil {
		return nil, err
	}
	out = appendTagged(out, "vpc", vpcs, func(n *koalav1.Network) (string, koalav1.Tags) { return n.EC2ID(), n.Spec.Tags })
	subnets, err := h.Store.Subnets(ctx, acct)
	if err != nil {
		return nil, err
	}
	out = appendTagged(out, "subnet", subnets, func(s *koalav1.Subnet) (string, koalav1.Tags) { return s.EC2ID(), s.Spec.Tags })
	groups, err := h.Store.SecurityGroups(ctx, acct)
	if err != nil {
		return nil, err
	}
	out = appendTagged(out, "security-group", groups, func(g *koalav1.SecurityGroup) (string, koalav1.Tags) { return g.EC2ID(), g.Spec.Tags })
	addrs, err := h.Store.Addresses(ctx, acct)
	if err != nil {
		return nil, err
	}
	out = appendTagged(out, "elastic-ip", addrs, func(a *koalav1.Address) (string, koalav1.Tags) { return a.EC2ID(), a.Spec.Tags })
	return out, nil
}

// appendTagged adds the objects that have an ID and tags.
func appendTagged[T any](out []taggedResource, rtype string, objs []T, get func(*T) (string, koalav1.Tags)) []taggedResource {
	for i := range objs {
		if id, tags := get(&objs[i]); id != "" && len(tags) > 0 {
			out = append(out, taggedResource{id: id, rtype: rtype, tags: tags})
		}
	}
	return out
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in describeInput) (protocol.Body, error) {
	matchRow, err := rowFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	matchResource, err := resourceFilters.Compile(in.tagFilters)
	if err != nil {
		return nil, err
	}
	resources, err := h.resources(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	var rows []tagRow
	for i := range resources {
		r := &resources[i]
		if !matchResource.Match(r) {
			continue
		}
		for k, v := range r.tags {
			row := tagRow{ResourceID: r.id, ResourceType: r.rtype, Key: k, Value: v}
			if matchRow.Match(&row) {
				rows = append(rows, row)
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rowKey(&rows[i]) < rowKey(&rows[j]) })
	page, next, err := protocol.Page(rows, rowKey, in.max, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	return &describeResponse{TagSet: page, NextToken: next}, nil
}

// rowKey orders rows by resource, then key; NUL cannot occur in either.
func rowKey(r *tagRow) string { return r.ResourceID + "\x00" + r.Key }
