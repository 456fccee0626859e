// Package images answers EC2's image actions: DescribeImages, DescribeImageAttribute,
// RegisterImage (from a snapshot), CreateImage (from an instance's volumes) and
// DeregisterImage.
package images

import (
	"context"
	"sort"
	"strconv"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/mapping"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/quota"
)

// Store is what the handlers read and write.
type Store interface {
	Image(ctx context.Context, acct store.Account, id string) (*koalav1.Image, error)
	Images(ctx context.Context, acct store.Account) ([]koalav1.Image, error)
	AccountID(ctx context.Context, namespace string) string
	Snapshot(ctx context.Context, acct store.Account, id string) (*koalav1.Snapshot, error)
	Snapshots(ctx context.Context, acct store.Account) ([]koalav1.Snapshot, error)
	ImagesUsingSnapshot(ctx context.Context, acct store.Account, snapshotID string) ([]koalav1.Image, error)
	Instance(ctx context.Context, acct store.Account, id string) (*koalav1.Instance, error)
	VolumesOfInstance(ctx context.Context, acct store.Account, instanceID string) ([]koalav1.Volume, error)
	Volume(ctx context.Context, acct store.Account, id string) (*koalav1.Volume, error)
	store.Writer
}

// Handlers answers the image actions.
type Handlers struct {
	Store Store
	// PlatformOwnerID and PlatformOwnerAlias are shown as the owner of public images
	// that no account owns (those the platform team publishes outside any account's
	// namespace); Owners=<alias> selects them.
	PlatformOwnerID    string
	PlatformOwnerAlias string
	// QuotaLocks, shared by the handlers whose creations count against an account's
	// limits, are held from a quota's check until the creation it allows is counted.
	QuotaLocks *quota.Locks
}

// Actions returns the image actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("DescribeImages", false, parseDescribe, h.describe),
		action.Bind("DescribeImageAttribute", false, parseDescribeAttribute, h.describeAttribute),
		action.Bind("RegisterImage", true, parseRegister, h.register),
		action.Bind("CreateImage", true, parseCreate, h.create),
		action.Bind("DeregisterImage", true, parseDeregister, h.deregister),
	}
}

type stateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type imageXML struct {
	ImageID            string             `xml:"imageId"`
	ImageLocation      string             `xml:"imageLocation"`
	ImageState         string             `xml:"imageState"`
	ImageOwnerID       string             `xml:"imageOwnerId"`
	CreationDate       string             `xml:"creationDate"`
	IsPublic           bool               `xml:"isPublic"`
	Architecture       string             `xml:"architecture"`
	ImageType          string             `xml:"imageType"`
	ImageOwnerAlias    string             `xml:"imageOwnerAlias,omitempty"`
	Name               string             `xml:"name"`
	Description        string             `xml:"description,omitempty"`
	RootDeviceType     string             `xml:"rootDeviceType"`
	RootDeviceName     string             `xml:"rootDeviceName"`
	BlockDeviceMapping []mapping.ImageXML `xml:"blockDeviceMapping>item"`
	VirtualizationType string             `xml:"virtualizationType"`
	TagSet             []tagging.Item     `xml:"tagSet>item,omitempty"`
	Hypervisor         string             `xml:"hypervisor"`
	EnaSupport         bool               `xml:"enaSupport"`
	SriovNetSupport    string             `xml:"sriovNetSupport"`
	PlatformDetails    string             `xml:"platformDetails"`
	UsageOperation     string             `xml:"usageOperation"`
	BootMode           string             `xml:"bootMode"`
	StateReason        *stateReasonXML    `xml:"stateReason,omitempty"`
	SourceInstanceID   string             `xml:"sourceInstanceId,omitempty"`
}

type describeResponse struct {
	protocol.Meta
	ImagesSet []imageXML `xml:"imagesSet>item"`
	NextToken string     `xml:"nextToken,omitempty"`
}

// shown is an image with its owner resolved, as DescribeImages sees it.
type shown struct {
	img        *koalav1.Image
	ownerID    string
	ownerAlias string
	own        bool
}

func state(img *koalav1.Image) string {
	if img.Status.State == "" {
		return string(koalav1.ImageStatePending)
	}
	return string(img.Status.State)
}

func rootDevice(img *koalav1.Image) string {
	if img.Spec.RootDeviceName != "" {
		return img.Spec.RootDeviceName
	}
	return "/dev/xvda"
}

// mappingValues are an image's values of one field of its block device mappings.
func mappingValues(s *shown, get func(mapping.ImageXML) string) []string {
	ms := mapping.ImageMappings(s.img, nil)
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if v := get(m); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func ebsValue(get func(*mapping.EBSXML) string) func(mapping.ImageXML) string {
	return func(m mapping.ImageXML) string {
		if m.Ebs == nil {
			return ""
		}
		return get(m.Ebs)
	}
}

var imageFilters = filter.Schema[*shown]{
	Fields: map[string]func(*shown) []string{
		"architecture":        func(s *shown) []string { return []string{string(arch(s.img))} },
		"description":         func(s *shown) []string { return []string{s.img.Spec.Description} },
		"image-id":            func(s *shown) []string { return []string{s.img.EC2ID()} },
		"image-type":          func(*shown) []string { return []string{"machine"} },
		"is-public":           func(s *shown) []string { return []string{strconv.FormatBool(s.img.Spec.Public)} },
		"name":                func(s *shown) []string { return []string{s.img.ImageName()} },
		"owner-alias":         func(s *shown) []string { return nonEmpty(s.ownerAlias) },
		"owner-id":            func(s *shown) []string { return []string{s.ownerID} },
		"platform-details":    func(*shown) []string { return []string{"Linux/UNIX"} },
		"root-device-name":    func(s *shown) []string { return []string{rootDevice(s.img)} },
		"root-device-type":    func(*shown) []string { return []string{"ebs"} },
		"state":               func(s *shown) []string { return []string{state(s.img)} },
		"virtualization-type": func(*shown) []string { return []string{"hvm"} },
		"hypervisor":          func(*shown) []string { return []string{"xen"} },
		"ena-support":         func(*shown) []string { return []string{"true"} },
		"creation-date":       func(s *shown) []string { return []string{protocol.FormatTime(s.img.CreationTimestamp.Time)} },
		"state-reason-code": func(s *shown) []string {
			if s.img.Status.StateReason == nil {
				return nil
			}
			return []string{s.img.Status.StateReason.Code}
		},
		"block-device-mapping.device-name": func(s *shown) []string {
			return mappingValues(s, func(m mapping.ImageXML) string { return m.DeviceName })
		},
		"block-device-mapping.volume-size": func(s *shown) []string {
			return mappingValues(s, ebsValue(func(e *mapping.EBSXML) string { return strconv.Itoa(int(e.VolumeSize)) }))
		},
		"block-device-mapping.volume-type": func(s *shown) []string {
			return mappingValues(s, ebsValue(func(e *mapping.EBSXML) string { return e.VolumeType }))
		},
		"block-device-mapping.delete-on-termination": func(s *shown) []string {
			return mappingValues(s, ebsValue(func(e *mapping.EBSXML) string { return strconv.FormatBool(e.DeleteOnTermination) }))
		},
		"block-device-mapping.snapshot-id": func(s *shown) []string {
			return mappingValues(s, ebsValue(func(e *mapping.EBSXML) string { return e.SnapshotID }))
		},
		"block-device-mapping.encrypted": func(*shown) []string { return []string{"false"} },
		"source-instance-id":             func(s *shown) []string { return nonEmpty(s.img.Spec.SourceInstanceID) },
	},
	Tags: func(s *shown) map[string]string {
		if !s.own {
			return nil // tags belong to the owner
		}
		return s.img.Spec.Tags
	},
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func arch(img *koalav1.Image) koalav1.Architecture {
	if img.Spec.Architecture == "" {
		return koalav1.ArchitectureX8664
	}
	return img.Spec.Architecture
}

type describeInput struct {
	ids, owners, executableBy []string
	filters                   []filter.Filter
	max                       int
	token, scope              string
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	var err error
	if in.ids, err = p.Strings("ImageId"); err != nil {
		return in, err
	}
	for _, id := range in.ids {
		if !ids.Valid(ids.Image, id) {
			return in, protocol.Errorf(protocol.CodeInvalidAMIIDMalformed, "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
	}
	if in.owners, err = p.Strings("Owner"); err != nil {
		return in, err
	}
	if in.executableBy, err = p.Strings("ExecutableBy"); err != nil {
		return in, err
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	for _, name := range []string{"IncludeDeprecated", "IncludeDisabled"} {
		if _, _, err := p.Bool(name); err != nil {
			return in, err
		}
	}
	max, hasMax, err := p.Int("MaxResults", 5, 1000)
	if err != nil {
		return in, err
	}
	if hasMax && len(in.ids) > 0 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter imagesSet cannot be used with the parameter maxResults")
	}
	in.max = int(max)
	in.token, _ = p.String("NextToken")
	in.scope = "DescribeImages?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

// owned reports whether s matches one of the Owners values: "self", an alias, or an
// account ID.
func ownedBy(s *shown, owners []string) bool {
	for _, o := range owners {
		switch {
		case o == "self" && s.own:
			return true
		case o != "self" && (o == s.ownerID || (s.ownerAlias != "" && o == s.ownerAlias)):
			return true
		}
	}
	return false
}

// executable reports whether s matches one of the ExecutableBy values: "all" (public),
// "self" (launchable by the caller) or the caller's account ID.
func executable(s *shown, by []string, accountID string) bool {
	for _, e := range by {
		switch {
		case e == "all" && s.img.Spec.Public:
			return true
		case (e == "self" || e == accountID) && (s.own || s.img.Spec.Public):
			return true
		}
	}
	return false
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in describeInput) (protocol.Body, error) {
	match, err := imageFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	all, err := h.Store.Images(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	owners := map[string]string{} // namespace -> account ID, looked up once each
	var candidates []shown
	for i := range all {
		img := &all[i]
		if img.EC2ID() == "" {
			continue
		}
		owner, ok := owners[img.Namespace]
		if !ok {
			owner = h.Store.AccountID(ctx, img.Namespace)
			owners[img.Namespace] = owner
		}
		s := shown{img: img, ownerID: owner, own: img.Namespace == c.Account.Namespace}
		if owner == "" {
			s.ownerID, s.ownerAlias = h.PlatformOwnerID, h.PlatformOwnerAlias
		}
		candidates = append(candidates, s)
	}

	var selected []*shown
	if len(in.ids) > 0 {
		byID := map[string]*shown{}
		for i := range candidates {
			byID[candidates[i].img.EC2ID()] = &candidates[i]
		}
		seen := map[string]bool{}
		for _, id := range in.ids {
			s, ok := byID[id]
			if !ok {
				return nil, protocol.Errorf(protocol.CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", id)
			}
			if !seen[id] {
				seen[id] = true
				selected = append(selected, s)
			}
		}
	} else {
		for i := range candidates {
			selected = append(selected, &candidates[i])
		}
	}
	kept := selected[:0]
	for _, s := range selected {
		if len(in.owners) > 0 && !ownedBy(s, in.owners) {
			continue
		}
		if len(in.executableBy) > 0 && !executable(s, in.executableBy, c.Account.ID) {
			continue
		}
		if match.Match(s) {
			kept = append(kept, s)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].img.EC2ID() < kept[j].img.EC2ID() })
	page, next, err := protocol.Page(kept, func(s **shown) string { return (*s).img.EC2ID() }, in.max, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	out := &describeResponse{NextToken: next}
	for _, s := range page {
		out.ImagesSet = append(out.ImagesSet, h.render(ctx, s))
	}
	return out, nil
}

// snapshotSizes gives the size of the snapshots of an image's namespace.
func (h *Handlers) snapshotSizes(ctx context.Context, img *koalav1.Image) func(string) int32 {
	return func(id string) int32 {
		snap, err := h.Store.Snapshot(ctx, store.Account{Namespace: img.Namespace}, id)
		if err != nil || snap == nil {
			return 0
		}
		return snap.Status.VolumeSize
	}
}

func (h *Handlers) render(ctx context.Context, s *shown) imageXML {
	img := s.img
	x := imageXML{
		ImageID:            img.EC2ID(),
		ImageLocation:      s.ownerID + "/" + img.ImageName(),
		ImageState:         state(img),
		ImageOwnerID:       s.ownerID,
		CreationDate:       protocol.FormatTime(img.CreationTimestamp.Time),
		IsPublic:           img.Spec.Public,
		Architecture:       string(arch(img)),
		ImageType:          "machine",
		ImageOwnerAlias:    s.ownerAlias,
		Name:               img.ImageName(),
		Description:        img.Spec.Description,
		RootDeviceType:     "ebs",
		RootDeviceName:     rootDevice(img),
		BlockDeviceMapping: mapping.ImageMappings(img, h.snapshotSizes(ctx, img)),
		SourceInstanceID:   img.Spec.SourceInstanceID,
		VirtualizationType: "hvm",
		Hypervisor:         "xen",
		EnaSupport:         true,
		SriovNetSupport:    "simple",
		PlatformDetails:    "Linux/UNIX",
		UsageOperation:     "RunInstances",
		BootMode:           "legacy-bios",
	}
	if s.own {
		x.TagSet = tagging.Set(img.Spec.Tags)
	}
	if r := img.Status.StateReason; r != nil {
		x.StateReason = &stateReasonXML{Code: r.Code, Message: r.Message}
	}
	return x
}
