package volumes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
)

type createInput struct {
	zone, snapshotID, clientToken string
	size                          int32
	hasSize                       bool
	volumeType                    koalav1.VolumeType
	iops, throughput              *int32
	tags                          map[string]string
}

// digest covers every parameter that makes two creates different, for
// IdempotentParameterMismatch.
func (in createInput) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %d %v %q %v %v", in.zone, in.snapshotID, in.size, in.hasSize, in.volumeType, derefOr(in.iops, -1), derefOr(in.throughput, -1))
	for _, t := range tagging.Set(in.tags) {
		fmt.Fprintf(h, " %q=%q", t.Key, t.Value)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func derefOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// parseVolumeType reads an EBS volume type parameter.
func parseVolumeType(p *protocol.Params, name string) (koalav1.VolumeType, bool, error) {
	t, ok := p.String(name)
	if !ok {
		return "", false, nil
	}
	switch vt := koalav1.VolumeType(t); vt {
	case koalav1.VolumeTypeGP3, koalav1.VolumeTypeGP2, koalav1.VolumeTypeIO1, koalav1.VolumeTypeIO2,
		koalav1.VolumeTypeST1, koalav1.VolumeTypeSC1, koalav1.VolumeTypeStandard:
		return vt, true, nil
	}
	return "", true, protocol.InvalidValue(name, t, "Expected gp3, gp2, io1, io2, st1, sc1 or standard.")
}

// readInt32 reads an integer parameter of any value, to be checked by the caller.
func readInt32(p *protocol.Params, name string) (*int32, error) {
	n, ok, err := p.Int(name, math.MinInt32, math.MaxInt32)
	if err != nil || !ok {
		return nil, err
	}
	v := int32(n)
	return &v, nil
}

// refuseUnsupported answers InvalidParameterValue for a parameter Koala cannot honour
// when it asks for more than the default.
func refuseUnsupported(p *protocol.Params, names ...string) error {
	for _, name := range names {
		if v, ok := p.String(name); ok && v != "" {
			return protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	return nil
}

// refuseTrue answers InvalidParameterValue for a boolean Koala supports only as false.
func refuseTrue(p *protocol.Params, names ...string) error {
	for _, name := range names {
		v, _, err := p.Bool(name)
		if err != nil {
			return err
		}
		if v {
			return protocol.InvalidValue(name, "true", "It is not supported.")
		}
	}
	return nil
}

// checkSize applies EC2's limits of the volume type to a size in GiB.
func checkSize(size int32, t koalav1.VolumeType) error {
	lo, hi := t.SizeLimits()
	switch {
	case size < lo:
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Volume of %dGiB is too small; minimum is %dGiB.", size, lo)
	case size > hi:
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Volume of %dGiB is too large for volume type %s; maximum is %dGiB.", size, t, hi)
	}
	return nil
}

// checkPerformance applies EC2's rules on IOPS and throughput to a volume type.
func checkPerformance(t koalav1.VolumeType, iops, throughput *int32) error {
	switch t {
	case koalav1.VolumeTypeIO1, koalav1.VolumeTypeIO2:
		if iops == nil {
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter iops must be specified for %s volumes.", t)
		}
		hi := int32(64000)
		if t == koalav1.VolumeTypeIO2 {
			hi = 256000
		}
		if *iops < 100 || *iops > hi {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "Volume iops of %d is out of range for %s volumes: 100 to %d.", *iops, t, hi)
		}
	case koalav1.VolumeTypeGP3:
		if iops != nil && (*iops < 3000 || *iops > 80000) {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "Volume iops of %d is out of range for gp3 volumes: 3000 to 80000.", *iops)
		}
	default:
		if iops != nil {
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter iops is not supported for %s volumes.", t)
		}
	}
	if throughput != nil {
		if t != koalav1.VolumeTypeGP3 {
			return protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter throughput is not supported for %s volumes.", t)
		}
		if *throughput < 125 || *throughput > 2000 {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "Volume throughput of %d is out of range for gp3 volumes: 125 to 2000.", *throughput)
		}
	}
	return nil
}

func parseClientToken(p *protocol.Params) (string, error) {
	token, _ := p.String("ClientToken")
	if len(token) > 64 {
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "ClientToken must be at most 64 characters long")
	}
	for i := 0; i < len(token); i++ {
		if token[i] < 0x20 || token[i] > 0x7e {
			return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "ClientToken must be printable ASCII")
		}
	}
	return token, nil
}

func parseCreate(p *protocol.Params) (createInput, error) {
	var in createInput
	var err error
	in.zone, _ = p.String("AvailabilityZone")
	if err := refuseUnsupported(p, "AvailabilityZoneId", "KmsKeyId", "OutpostArn", "VolumeInitializationRate"); err != nil {
		return in, err
	}
	if in.zone == "" {
		return in, protocol.MissingParameter("AvailabilityZone")
	}
	if err := refuseTrue(p, "Encrypted", "MultiAttachEnabled"); err != nil {
		return in, err
	}
	if op, ok := p.Struct("Operator"); ok {
		principal, _ := op.String("Principal")
		return in, protocol.InvalidValue("Operator.Principal", principal, "Managed volumes are not supported.")
	}
	size, err := readInt32(p, "Size")
	if err != nil {
		return in, err
	}
	if size != nil {
		in.size, in.hasSize = *size, true
	}
	if in.snapshotID, _ = p.String("SnapshotId"); in.snapshotID != "" && !ids.Valid(ids.Snapshot, in.snapshotID) {
		return in, protocol.Errorf(protocol.CodeInvalidSnapshotMalformed, "Invalid id: \"%s\" (expecting \"snap-...\")", in.snapshotID)
	}
	if !in.hasSize && in.snapshotID == "" {
		return in, protocol.Errorf(protocol.CodeMissingParameter, "The request must contain the parameter size or snapshotId")
	}
	in.volumeType = koalav1.VolumeTypeGP2
	if t, ok, err := parseVolumeType(p, "VolumeType"); err != nil {
		return in, err
	} else if ok {
		in.volumeType = t
	}
	if in.hasSize {
		if err := checkSize(in.size, in.volumeType); err != nil {
			return in, err
		}
	}
	if in.iops, err = readInt32(p, "Iops"); err != nil {
		return in, err
	}
	if in.throughput, err = readInt32(p, "Throughput"); err != nil {
		return in, err
	}
	if err := checkPerformance(in.volumeType, in.iops, in.throughput); err != nil {
		return in, err
	}
	if in.clientToken, err = parseClientToken(p); err != nil {
		return in, err
	}
	specs, err := tagging.Specifications(p, "volume")
	if err != nil {
		return in, err
	}
	in.tags = specs["volume"]
	return in, nil
}

// checkZone refuses a zone the region does not have.
func (h *Handlers) checkZone(ctx context.Context, zone string) error {
	zs, err := h.Store.Zones(ctx, h.Region)
	if err != nil {
		return err
	}
	for _, z := range zs {
		if z == zone {
			return nil
		}
	}
	return protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid availability zone: [%s]", zone)
}

type volumeResponse struct {
	protocol.Meta
	volumeXML
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	if err := h.checkZone(ctx, in.zone); err != nil {
		return nil, err
	}
	if in.snapshotID != "" {
		snap, err := h.Store.Snapshot(ctx, c.Account, in.snapshotID)
		if err != nil {
			return nil, err
		}
		if snap == nil || !snap.DeletionTimestamp.IsZero() {
			return nil, protocol.Errorf(protocol.CodeInvalidSnapshotNotFound, "The snapshot '%s' does not exist.", in.snapshotID)
		}
		snapSize := snapshotSize(ctx, h.Store, c, snap)
		if !in.hasSize {
			if snapSize == 0 {
				return nil, protocol.Errorf(protocol.CodeMissingParameter, "The size of snapshot '%s' is not known yet: the request must contain the parameter size", in.snapshotID)
			}
			in.size = snapSize
			if err := checkSize(in.size, in.volumeType); err != nil {
				return nil, err
			}
		} else if in.size < snapSize {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue,
				"Volume of %dGiB is smaller than snapshot '%s', expect size >= %dGiB", in.size, in.snapshotID, snapSize)
		}
	}
	id := ids.New(ids.Volume)
	digest := in.digest()
	if in.clientToken != "" {
		id = ids.FromSeed(ids.Volume, c.Account.Namespace, in.clientToken)
	}
	unlock, err := h.lockVolumeQuota(ctx, c, id, int64(in.size))
	if err != nil {
		return nil, err
	}
	defer unlock()
	vol := &koalav1.Volume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        id,
			Namespace:   c.Account.Namespace,
			Finalizers:  []string{volumeFinalizer},
			Annotations: map[string]string{koalav1.IDAnnotation: id},
		},
		Spec: koalav1.VolumeSpec{
			Size: in.size, VolumeType: in.volumeType, AvailabilityZone: in.zone, SnapshotID: in.snapshotID,
			Iops: in.iops, Throughput: in.throughput, Tags: in.tags, ClientToken: in.clientToken,
		},
	}
	if in.clientToken != "" {
		vol.Annotations[koalav1.ClientTokenHashAnnotation] = digest
	}
	if err := h.Store.Create(ctx, vol); err != nil {
		switch {
		case apierrors.IsInvalid(err):
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", firstCause(err))
		case in.clientToken != "" && apierrors.IsAlreadyExists(err):
			existing, err := h.existing(ctx, c, id)
			if err != nil {
				return nil, err
			}
			if existing.Annotations[koalav1.ClientTokenHashAnnotation] != digest {
				return nil, protocol.Errorf(protocol.CodeIdempotentParameterMismatch,
					"The client token '%s' was already used with different parameters", in.clientToken)
			}
			vol = existing
		default:
			return nil, fmt.Errorf("creating volume: %w", err)
		}
	}
	return &volumeResponse{volumeXML: render(vol, view(vol))}, nil
}

// existing reads the volume an earlier create with the same client token made, from
// the cache or, when the cache has not seen it yet, the API server.
func (h *Handlers) existing(ctx context.Context, c *action.Call, name string) (*koalav1.Volume, error) {
	v, err := h.Store.VolumeByName(ctx, c.Account, name)
	if err != nil || v != nil {
		return v, err
	}
	v = &koalav1.Volume{}
	if err := h.Store.Direct().Get(ctx, client.ObjectKey{Namespace: c.Account.Namespace, Name: name}, v); err != nil {
		return nil, fmt.Errorf("reading the volume of a client token: %w", err)
	}
	return v, nil
}

// snapshotSize is a snapshot's size in GiB: what the operator recorded, else the size
// of the volume it is taken of (0 when neither is known).
func snapshotSize(ctx context.Context, st Store, c *action.Call, snap *koalav1.Snapshot) int32 {
	if snap.Status.VolumeSize > 0 {
		return snap.Status.VolumeSize
	}
	if snap.Spec.VolumeID == "" {
		return 0
	}
	if v, err := st.Volume(ctx, c.Account, snap.Spec.VolumeID); err == nil && v != nil {
		return v.Spec.Size
	}
	return 0
}

func firstCause(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok {
		if d := status.Status().Details; d != nil && len(d.Causes) > 0 {
			return d.Causes[0].Message
		}
	}
	return err.Error()
}

// delete deletes a volume that is attached to nothing.
func (h *Handlers) delete(ctx context.Context, c *action.Call, id string) (protocol.Body, error) {
	v, err := h.volume(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !v.DeletionTimestamp.IsZero() {
		return protocol.OK(), nil
	}
	if vv := view(v); len(vv.Attachments) > 0 {
		return nil, protocol.Errorf(protocol.CodeVolumeInUse, "Volume %s is currently attached to %s", id, vv.Attachments[0].InstanceID)
	}
	if err := h.Store.Delete(ctx, v, client.Preconditions{UID: &v.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting volume %s: %w", id, err)
	}
	return protocol.OK(), nil
}
