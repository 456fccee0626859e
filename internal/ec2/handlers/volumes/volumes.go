// Package volumes answers EC2's EBS volume actions: CreateVolume, DeleteVolume,
// DescribeVolumes, AttachVolume, DetachVolume, ModifyVolume,
// DescribeVolumesModifications, DescribeVolumeStatus and DescribeVolumeAttribute.
//
// A volume is a Volume object; attaching sets its spec.attachment, and the operator
// hotplugs the disk into the instance's VirtualMachine. What the endpoint shows is the
// operator's status, except where the spec already asks for something the operator has
// not reported yet: a volume just attached shows attaching, one just detached
// detaching, as EC2 shows them at once.
package volumes

import (
	"context"
	"strings"
	"time"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/quota"
)

// Store is what the handlers read and write.
type Store interface {
	Volume(ctx context.Context, acct store.Account, id string) (*koalav1.Volume, error)
	VolumeByName(ctx context.Context, acct store.Account, name string) (*koalav1.Volume, error)
	Volumes(ctx context.Context, acct store.Account) ([]koalav1.Volume, error)
	VolumesOfInstance(ctx context.Context, acct store.Account, instanceID string) ([]koalav1.Volume, error)
	Instance(ctx context.Context, acct store.Account, id string) (*koalav1.Instance, error)
	Snapshot(ctx context.Context, acct store.Account, id string) (*koalav1.Snapshot, error)
	Zones(ctx context.Context, region string) ([]string, error)
	NodeLabels(ctx context.Context) ([]map[string]string, error)
	store.Writer
}

// Handlers answers the volume actions.
type Handlers struct {
	Store  Store
	Region string
	Now    func() time.Time
	// QuotaLocks, shared by the handlers whose creations count against an account's
	// limits, are held from a quota's check until the creation it allows is counted.
	QuotaLocks *quota.Locks
}

// Actions returns the volume actions.
func (h *Handlers) Actions() []action.Action {
	if h.Now == nil {
		h.Now = time.Now
	}
	return []action.Action{
		action.Bind("CreateVolume", true, parseCreate, h.create),
		action.Bind("DeleteVolume", true, parseVolumeID, h.delete),
		action.Bind("DescribeVolumes", false, parseDescribe, h.describe),
		action.Bind("AttachVolume", true, parseAttach, h.attach),
		action.Bind("DetachVolume", true, parseDetach, h.detach),
		action.Bind("ModifyVolume", true, parseModify, h.modify),
		action.Bind("DescribeVolumesModifications", false, parseDescribeModifications, h.describeModifications),
		action.Bind("DescribeVolumeStatus", false, parseDescribeStatus, h.describeStatus),
		action.Bind("DescribeVolumeAttribute", false, parseDescribeAttribute, h.describeAttribute),
	}
}

// volumeFinalizer is the operator's finalizer, set at creation so that the operator
// need not spend a write adding it.
const volumeFinalizer = "cloud.koala.dev/volume"

func malformedVolumeID(id string) error {
	return protocol.Errorf(protocol.CodeInvalidVolumeMalformed, "Invalid id: \"%s\" (expecting \"vol-...\")", id)
}

func volumeNotFound(missing ...string) error {
	if len(missing) == 1 {
		return protocol.Errorf(protocol.CodeInvalidVolumeNotFound, "The volume '%s' does not exist.", missing[0])
	}
	return protocol.Errorf(protocol.CodeInvalidVolumeNotFound, "The volumes '%s' do not exist.", strings.Join(missing, ", "))
}

// parseVolumeID reads the VolumeId an action requires.
func parseVolumeID(p *protocol.Params) (string, error) {
	id, err := p.Required("VolumeId")
	if err != nil {
		return "", err
	}
	if !ids.Valid(ids.Volume, id) {
		return "", malformedVolumeID(id)
	}
	return id, nil
}

// volume finds the account's volume, or answers InvalidVolume.NotFound.
func (h *Handlers) volume(ctx context.Context, c *action.Call, id string) (*koalav1.Volume, error) {
	v, err := h.Store.Volume(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, volumeNotFound(id)
	}
	return v, nil
}
