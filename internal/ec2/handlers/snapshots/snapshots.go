// Package snapshots answers EC2's EBS snapshot actions: CreateSnapshot,
// DeleteSnapshot, DescribeSnapshots and CopySnapshot (within the region).
//
// A snapshot is a Snapshot object; the operator takes it as a
// snapshot.storage.k8s.io VolumeSnapshot of the volume's claim. Snapshots are private
// to their account: Koala has no public snapshots.
package snapshots

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/quota"
)

// Store is what the handlers read and write.
type Store interface {
	Snapshot(ctx context.Context, acct store.Account, id string) (*koalav1.Snapshot, error)
	Snapshots(ctx context.Context, acct store.Account) ([]koalav1.Snapshot, error)
	Volume(ctx context.Context, acct store.Account, id string) (*koalav1.Volume, error)
	ImagesUsingSnapshot(ctx context.Context, acct store.Account, snapshotID string) ([]koalav1.Image, error)
	store.Writer
}

// Handlers answers the snapshot actions.
type Handlers struct {
	Store  Store
	Region string
	Now    func() time.Time
	// QuotaLocks, shared by the handlers whose creations count against an account's
	// limits, are held from a quota's check until the creation it allows is counted.
	QuotaLocks *quota.Locks
}

// Actions returns the snapshot actions.
func (h *Handlers) Actions() []action.Action {
	if h.Now == nil {
		h.Now = time.Now
	}
	return []action.Action{
		action.Bind("CreateSnapshot", true, parseCreate, h.create),
		action.Bind("DeleteSnapshot", true, parseSnapshotID, h.delete),
		action.Bind("DescribeSnapshots", false, parseDescribe, h.describe),
		action.Bind("CopySnapshot", true, h.parseCopy, h.copy),
	}
}

// snapshotFinalizer is the operator's finalizer, set at creation so that the operator
// need not spend a write adding it.
const snapshotFinalizer = "cloud.koala.dev/snapshot"

// copiedVolumeID is the volume ID EC2 shows for a copied snapshot: arbitrary, "not to
// be used for any purpose".
const copiedVolumeID = "vol-ffffffff"

func malformed(id string) error {
	return protocol.Errorf(protocol.CodeInvalidSnapshotMalformed, "Invalid id: \"%s\" (expecting \"snap-...\")", id)
}

func notFound(missing ...string) error {
	if len(missing) == 1 {
		return protocol.Errorf(protocol.CodeInvalidSnapshotNotFound, "The snapshot '%s' does not exist.", missing[0])
	}
	return protocol.Errorf(protocol.CodeInvalidSnapshotNotFound, "The snapshots '%s' do not exist.", strings.Join(missing, ", "))
}

func parseSnapshotID(p *protocol.Params) (string, error) {
	id, err := p.Required("SnapshotId")
	if err != nil {
		return "", err
	}
	if !ids.Valid(ids.Snapshot, id) {
		return "", malformed(id)
	}
	return id, nil
}

// state is the snapshot's EC2 state: the operator's, pending until it has reported.
func state(s *koalav1.Snapshot) koalav1.SnapshotStateName {
	if s.Status.State == "" {
		return koalav1.SnapshotStatePending
	}
	return s.Status.State
}

func progress(s *koalav1.Snapshot) string {
	if s.Status.Progress == "" {
		return "0%"
	}
	return s.Status.Progress
}

func volumeIDOf(s *koalav1.Snapshot) string {
	if s.Spec.VolumeID != "" {
		return s.Spec.VolumeID
	}
	return copiedVolumeID
}

// snapshotXML is a snapshot as DescribeSnapshots and CreateSnapshot answer.
type snapshotXML struct {
	SnapshotID    string         `xml:"snapshotId"`
	VolumeID      string         `xml:"volumeId"`
	Status        string         `xml:"status"`
	StatusMessage string         `xml:"statusMessage,omitempty"`
	StartTime     string         `xml:"startTime"`
	Progress      string         `xml:"progress"`
	OwnerID       string         `xml:"ownerId"`
	VolumeSize    int32          `xml:"volumeSize"`
	Description   string         `xml:"description"`
	Encrypted     bool           `xml:"encrypted"`
	StorageTier   string         `xml:"storageTier"`
	TagSet        []tagging.Item `xml:"tagSet>item,omitempty"`
}

// shown is a snapshot with its size resolved.
type shown struct {
	s    *koalav1.Snapshot
	size int32
}

func render(sh *shown, ownerID string) snapshotXML {
	s := sh.s
	return snapshotXML{
		SnapshotID:    s.EC2ID(),
		VolumeID:      volumeIDOf(s),
		Status:        string(state(s)),
		StatusMessage: s.Status.StatusMessage,
		StartTime:     protocol.FormatTime(s.CreationTimestamp.Time),
		Progress:      progress(s),
		OwnerID:       ownerID,
		VolumeSize:    sh.size,
		Description:   s.Spec.Description,
		StorageTier:   "standard",
		TagSet:        tagging.Set(s.Spec.Tags),
	}
}

// sizeOf is a snapshot's size in GiB: the operator's record, else its volume's.
func (h *Handlers) sizeOf(ctx context.Context, c *action.Call, s *koalav1.Snapshot) int32 {
	if s.Status.VolumeSize > 0 {
		return s.Status.VolumeSize
	}
	if s.Spec.VolumeID != "" {
		if v, err := h.Store.Volume(ctx, c.Account, s.Spec.VolumeID); err == nil && v != nil {
			return v.Spec.Size
		}
	}
	if s.Spec.SourceSnapshotID != "" {
		if src, err := h.Store.Snapshot(ctx, c.Account, s.Spec.SourceSnapshotID); err == nil && src != nil {
			return src.Status.VolumeSize
		}
	}
	return 0
}

func parseDescription(p *protocol.Params) (string, error) {
	d, _ := p.String("Description")
	if len(d) > 255 {
		return "", protocol.Errorf(protocol.CodeInvalidParameterValue, "The description may be at most 255 characters long")
	}
	return d, nil
}

// CreateSnapshot.

type createInput struct {
	volumeID, description string
	tags                  map[string]string
}

func parseCreate(p *protocol.Params) (createInput, error) {
	var in createInput
	var err error
	if in.volumeID, err = p.Required("VolumeId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.Volume, in.volumeID) {
		return in, protocol.Errorf(protocol.CodeInvalidVolumeMalformed, "Invalid id: \"%s\" (expecting \"vol-...\")", in.volumeID)
	}
	if in.description, err = parseDescription(p); err != nil {
		return in, err
	}
	for _, name := range []string{"OutpostArn", "Location"} {
		if v, ok := p.String(name); ok && v != "" && !(name == "Location" && v == "regional") {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	specs, err := tagging.Specifications(p, "snapshot")
	if err != nil {
		return in, err
	}
	in.tags = specs["snapshot"]
	return in, nil
}

type snapshotResponse struct {
	protocol.Meta
	snapshotXML
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	v, err := h.Store.Volume(ctx, c.Account, in.volumeID)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidVolumeNotFound, "The volume '%s' does not exist.", in.volumeID)
	}
	if st := v.Status.State; !v.DeletionTimestamp.IsZero() || (st != koalav1.VolumeStateAvailable && st != koalav1.VolumeStateInUse) {
		return nil, protocol.Errorf(protocol.CodeIncorrectState, "The volume '%s' is not ready to be snapshotted (it is %s).", in.volumeID, orText(string(st), "creating"))
	}
	unlock, err := LockQuota(ctx, h.Store, h.QuotaLocks, c.Account, 1)
	if err != nil {
		return nil, err
	}
	defer unlock()
	snap, err := CreateSnapshot(ctx, h.Store, c.Account, in.volumeID, "", in.description, in.tags)
	if err != nil {
		return nil, err
	}
	return &snapshotResponse{snapshotXML: render(&shown{s: snap, size: v.Spec.Size}, c.Account.ID)}, nil
}

// CreateSnapshot creates a Snapshot object of a volume (or, with source, a copy of a
// snapshot) for the account; CreateImage uses it too.
func CreateSnapshot(ctx context.Context, w store.Writer, acct store.Account, volumeID, source, description string, tags map[string]string) (*koalav1.Snapshot, error) {
	id := ids.New(ids.Snapshot)
	snap := &koalav1.Snapshot{
		ObjectMeta: metav1.ObjectMeta{
			Name:        id,
			Namespace:   acct.Namespace,
			Finalizers:  []string{snapshotFinalizer},
			Annotations: map[string]string{koalav1.IDAnnotation: id},
		},
		Spec: koalav1.SnapshotSpec{VolumeID: volumeID, SourceSnapshotID: source, Description: description, Tags: tags},
	}
	if err := w.Create(ctx, snap); err != nil {
		if apierrors.IsInvalid(err) {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", firstCause(err))
		}
		return nil, fmt.Errorf("creating snapshot: %w", err)
	}
	return snap, nil
}

func firstCause(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok {
		if d := status.Status().Details; d != nil && len(d.Causes) > 0 {
			return d.Causes[0].Message
		}
	}
	return err.Error()
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// DeleteSnapshot.

func (h *Handlers) delete(ctx context.Context, c *action.Call, id string) (protocol.Body, error) {
	snap, err := h.Store.Snapshot(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		return nil, notFound(id)
	}
	if !snap.DeletionTimestamp.IsZero() {
		return protocol.OK(), nil
	}
	images, err := h.Store.ImagesUsingSnapshot(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	for i := range images {
		if images[i].DeletionTimestamp.IsZero() {
			return nil, protocol.Errorf(protocol.CodeInvalidSnapshotInUse,
				"The snapshot %s is currently in use by %s", id, orText(images[i].EC2ID(), images[i].Name))
		}
	}
	if err := h.Store.Delete(ctx, snap, client.Preconditions{UID: &snap.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting snapshot %s: %w", id, err)
	}
	return protocol.OK(), nil
}

// DescribeSnapshots.

var snapshotFilters = filter.Schema[*shown]{
	Fields: map[string]func(*shown) []string{
		"description":  func(sh *shown) []string { return []string{sh.s.Spec.Description} },
		"encrypted":    func(*shown) []string { return []string{"false"} },
		"owner-alias":  func(*shown) []string { return nil },
		"progress":     func(sh *shown) []string { return []string{progress(sh.s)} },
		"snapshot-id":  func(sh *shown) []string { return []string{sh.s.EC2ID()} },
		"start-time":   func(sh *shown) []string { return []string{protocol.FormatTime(sh.s.CreationTimestamp.Time)} },
		"status":       func(sh *shown) []string { return []string{string(state(sh.s))} },
		"storage-tier": func(*shown) []string { return []string{"standard"} },
		"volume-id":    func(sh *shown) []string { return []string{volumeIDOf(sh.s)} },
		"volume-size":  func(sh *shown) []string { return []string{strconv.Itoa(int(sh.size))} },
		// owner-id is answered by describe: it needs the caller's account.
	},
	Tags: func(sh *shown) map[string]string { return sh.s.Spec.Tags },
}

type describeInput struct {
	ids, owners, restorableBy []string
	filters                   []filter.Filter
	max                       int
	token, scope              string
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	var err error
	if in.ids, err = p.Strings("SnapshotId"); err != nil {
		return in, err
	}
	for _, id := range in.ids {
		if !ids.Valid(ids.Snapshot, id) {
			return in, malformed(id)
		}
	}
	if in.owners, err = p.Strings("Owner"); err != nil {
		return in, err
	}
	if in.restorableBy, err = p.Strings("RestorableBy"); err != nil {
		return in, err
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	max, hasMax, err := p.Int("MaxResults", 5, math.MaxInt32)
	if err != nil {
		return in, err
	}
	if hasMax && len(in.ids) > 0 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter snapshotSet cannot be used with the parameter maxResults")
	}
	in.max = int(min(max, 1000))
	in.token, _ = p.String("NextToken")
	in.scope = "DescribeSnapshots?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

type describeResponse struct {
	protocol.Meta
	SnapshotSet []snapshotXML `xml:"snapshotSet>item"`
	NextToken   string        `xml:"nextToken,omitempty"`
}

// ownedBy reports whether the account's snapshots match Owner.N: "self" or the
// account's ID (every snapshot Koala shows is the caller's own).
func ownedBy(owners []string, accountID string) bool {
	if len(owners) == 0 {
		return true
	}
	for _, o := range owners {
		if o == "self" || o == accountID {
			return true
		}
	}
	return false
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in describeInput) (protocol.Body, error) {
	// owner-id is the caller's for every snapshot shown; handle it here.
	var rest []filter.Filter
	ownerMatch := true
	for _, f := range in.filters {
		if f.Name != "owner-id" {
			rest = append(rest, f)
			continue
		}
		m, err := filter.Schema[string]{Fields: map[string]func(string) []string{"owner-id": func(s string) []string { return []string{s} }}}.Compile([]filter.Filter{f})
		if err != nil {
			return nil, err
		}
		ownerMatch = ownerMatch && m.Match(c.Account.ID)
	}
	match, err := snapshotFilters.Compile(rest)
	if err != nil {
		return nil, err
	}
	var candidates []*shown
	if len(in.ids) > 0 {
		var missing []string
		seen := map[string]bool{}
		for _, id := range in.ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			s, err := h.Store.Snapshot(ctx, c.Account, id)
			if err != nil {
				return nil, err
			}
			if s == nil {
				missing = append(missing, id)
				continue
			}
			candidates = append(candidates, &shown{s: s})
		}
		if len(missing) > 0 {
			return nil, notFound(missing...)
		}
	} else {
		all, err := h.Store.Snapshots(ctx, c.Account)
		if err != nil {
			return nil, err
		}
		for i := range all {
			if all[i].EC2ID() != "" {
				candidates = append(candidates, &shown{s: &all[i]})
			}
		}
	}
	var kept []*shown
	if ownerMatch && ownedBy(in.owners, c.Account.ID) {
		for _, sh := range candidates {
			sh.size = h.sizeOf(ctx, c, sh.s)
			if match.Match(sh) {
				kept = append(kept, sh)
			}
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].s.EC2ID() < kept[j].s.EC2ID() })
	page, next, err := protocol.Page(kept, func(sh **shown) string { return (*sh).s.EC2ID() }, in.max, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	out := &describeResponse{NextToken: next}
	for _, sh := range page {
		out.SnapshotSet = append(out.SnapshotSet, render(sh, c.Account.ID))
	}
	return out, nil
}

// CopySnapshot.

type copyInput struct {
	source, description string
	tags                map[string]string
}

func (h *Handlers) parseCopy(p *protocol.Params) (copyInput, error) {
	var in copyInput
	region, err := p.Required("SourceRegion")
	if err != nil {
		return in, err
	}
	if region != h.Region {
		return in, protocol.InvalidValue("SourceRegion", region, fmt.Sprintf("Snapshots can be copied within the region %s only.", h.Region))
	}
	if dest, ok := p.String("DestinationRegion"); ok && dest != "" && dest != h.Region {
		return in, protocol.InvalidValue("DestinationRegion", dest, fmt.Sprintf("Snapshots can be copied within the region %s only.", h.Region))
	}
	if in.source, err = p.Required("SourceSnapshotId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.Snapshot, in.source) {
		return in, malformed(in.source)
	}
	if in.description, err = parseDescription(p); err != nil {
		return in, err
	}
	if enc, _, err := p.Bool("Encrypted"); err != nil {
		return in, err
	} else if enc {
		return in, protocol.InvalidValue("Encrypted", "true", "Encryption is not supported.")
	}
	for _, name := range []string{"KmsKeyId", "DestinationOutpostArn", "DestinationAvailabilityZone", "CompletionDurationMinutes"} {
		if v, ok := p.String(name); ok && v != "" {
			return in, protocol.InvalidValue(name, v, "It is not supported.")
		}
	}
	// A presigned URL is how cross-region copies authorise themselves; within the
	// region there is nothing to check.
	_, _ = p.String("PresignedUrl")
	specs, err := tagging.Specifications(p, "snapshot")
	if err != nil {
		return in, err
	}
	in.tags = specs["snapshot"]
	return in, nil
}

type copyResponse struct {
	protocol.Meta
	SnapshotID string         `xml:"snapshotId"`
	TagSet     []tagging.Item `xml:"tagSet>item,omitempty"`
}

func (h *Handlers) copy(ctx context.Context, c *action.Call, in copyInput) (protocol.Body, error) {
	src, err := h.Store.Snapshot(ctx, c.Account, in.source)
	if err != nil {
		return nil, err
	}
	if src == nil || !src.DeletionTimestamp.IsZero() {
		return nil, notFound(in.source)
	}
	if state(src) != koalav1.SnapshotStateCompleted {
		return nil, protocol.Errorf(protocol.CodeIncorrectState, "The snapshot '%s' is %s; only completed snapshots can be copied.", in.source, state(src))
	}
	description := in.description
	if description == "" {
		description = fmt.Sprintf("[Copied %s from %s]", in.source, h.Region)
	}
	unlock, err := LockQuota(ctx, h.Store, h.QuotaLocks, c.Account, 1)
	if err != nil {
		return nil, err
	}
	defer unlock()
	snap, err := CreateSnapshot(ctx, h.Store, c.Account, "", in.source, description, in.tags)
	if err != nil {
		return nil, err
	}
	return &copyResponse{SnapshotID: snap.EC2ID(), TagSet: tagging.Set(in.tags)}, nil
}
