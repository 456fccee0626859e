package volumes

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// modificationView is a volume's modification as EC2 clients see it.
type modificationView struct {
	state                                koalav1.VolumeModificationStateName
	message                              string
	originalSize, targetSize             int32
	originalType, targetType             koalav1.VolumeType
	originalIops, targetIops             *int32
	originalThroughput, targetThroughput *int32
	progress                             int32
	startTime, endTime                   time.Time
}

// modification computes a volume's modification: the operator's record, or, for a
// spec changed a moment ago that the operator has not seen yet, a modification just
// begun. nil for a volume never modified.
func modification(v *koalav1.Volume) *modificationView {
	st := v.Status
	spec := v.Spec
	typ := v.Type()
	m := st.Modification
	targeted := m != nil && m.TargetSize == spec.Size && m.TargetVolumeType == typ &&
		equality.Semantic.DeepEqual(m.TargetIops, spec.Iops) && equality.Semantic.DeepEqual(m.TargetThroughput, spec.Throughput)
	if m != nil && targeted {
		out := &modificationView{
			state: m.State, message: m.Message, progress: m.Progress,
			originalSize: m.OriginalSize, targetSize: m.TargetSize, originalType: m.OriginalVolumeType, targetType: m.TargetVolumeType,
			originalIops: iopsOf(m.OriginalVolumeType, m.OriginalSize, m.OriginalIops), targetIops: iopsOf(m.TargetVolumeType, m.TargetSize, m.TargetIops),
			originalThroughput: throughputOf(m.OriginalVolumeType, m.OriginalThroughput), targetThroughput: throughputOf(m.TargetVolumeType, m.TargetThroughput),
		}
		if m.StartTime != nil {
			out.startTime = m.StartTime.Time
		}
		if m.EndTime != nil {
			out.endTime = m.EndTime.Time
		}
		return out
	}
	differs := st.Size != 0 && (spec.Size != st.Size || typ != st.VolumeType ||
		!equality.Semantic.DeepEqual(spec.Iops, st.Iops) || !equality.Semantic.DeepEqual(spec.Throughput, st.Throughput))
	if !differs {
		if m == nil {
			return nil
		}
		// An older modification, of a spec since changed back.
		return &modificationView{state: m.State, message: m.Message, progress: m.Progress, originalSize: m.OriginalSize, targetSize: m.TargetSize,
			originalType: m.OriginalVolumeType, targetType: m.TargetVolumeType}
	}
	start, _ := time.Parse(time.RFC3339Nano, v.Annotations[koalav1.ModifyTimeAnnotation])
	return &modificationView{
		state:        koalav1.ModificationStateModifying,
		originalSize: st.Size, targetSize: spec.Size, originalType: st.VolumeType, targetType: typ,
		originalIops: iopsOf(st.VolumeType, st.Size, st.Iops), targetIops: iopsOf(typ, spec.Size, spec.Iops),
		originalThroughput: throughputOf(st.VolumeType, st.Throughput), targetThroughput: throughputOf(typ, spec.Throughput),
		startTime: start,
	}
}

// iopsOf and throughputOf are what EC2 shows for a type, size and setting.
func iopsOf(t koalav1.VolumeType, size int32, set *int32) *int32 {
	return iops(&koalav1.Volume{Spec: koalav1.VolumeSpec{VolumeType: t, Size: size, Iops: set}})
}

func throughputOf(t koalav1.VolumeType, set *int32) *int32 {
	return throughput(&koalav1.Volume{Spec: koalav1.VolumeSpec{VolumeType: t, Throughput: set}})
}

type modificationXML struct {
	VolumeID           string `xml:"volumeId"`
	ModificationState  string `xml:"modificationState"`
	StatusMessage      string `xml:"statusMessage,omitempty"`
	TargetSize         int32  `xml:"targetSize"`
	TargetIops         *int32 `xml:"targetIops,omitempty"`
	TargetVolumeType   string `xml:"targetVolumeType"`
	TargetThroughput   *int32 `xml:"targetThroughput,omitempty"`
	OriginalSize       int32  `xml:"originalSize"`
	OriginalIops       *int32 `xml:"originalIops,omitempty"`
	OriginalVolumeType string `xml:"originalVolumeType"`
	OriginalThroughput *int32 `xml:"originalThroughput,omitempty"`
	Progress           int32  `xml:"progress"`
	StartTime          string `xml:"startTime,omitempty"`
	EndTime            string `xml:"endTime,omitempty"`
}

func renderModification(id string, m *modificationView) modificationXML {
	return modificationXML{
		VolumeID: id, ModificationState: string(m.state), StatusMessage: m.message,
		TargetSize: m.targetSize, TargetIops: m.targetIops, TargetVolumeType: string(m.targetType), TargetThroughput: m.targetThroughput,
		OriginalSize: m.originalSize, OriginalIops: m.originalIops, OriginalVolumeType: string(m.originalType), OriginalThroughput: m.originalThroughput,
		Progress: m.progress, StartTime: protocol.FormatTime(m.startTime), EndTime: protocol.FormatTime(m.endTime),
	}
}

type modifyInput struct {
	id               string
	size             *int32
	volumeType       koalav1.VolumeType
	iops, throughput *int32
}

func parseModify(p *protocol.Params) (modifyInput, error) {
	var in modifyInput
	var err error
	if in.id, err = parseVolumeID(p); err != nil {
		return in, err
	}
	if in.size, err = readInt32(p, "Size"); err != nil {
		return in, err
	}
	if t, ok, err := parseVolumeType(p, "VolumeType"); err != nil {
		return in, err
	} else if ok {
		in.volumeType = t
	}
	if in.iops, err = readInt32(p, "Iops"); err != nil {
		return in, err
	}
	if in.throughput, err = readInt32(p, "Throughput"); err != nil {
		return in, err
	}
	if err := refuseTrue(p, "MultiAttachEnabled"); err != nil {
		return in, err
	}
	if in.size == nil && in.volumeType == "" && in.iops == nil && in.throughput == nil {
		return in, protocol.Errorf(protocol.CodeMissingParameter, "The request must contain at least one of the parameters Size, VolumeType, Iops and Throughput")
	}
	return in, nil
}

type modifyResponse struct {
	protocol.Meta
	VolumeModification modificationXML `xml:"volumeModification"`
}

func (h *Handlers) modify(ctx context.Context, c *action.Call, in modifyInput) (protocol.Body, error) {
	v, err := h.volume(ctx, c, in.id)
	if err != nil {
		return nil, err
	}
	if st := view(v).State; st != koalav1.VolumeStateAvailable && st != koalav1.VolumeStateInUse {
		return nil, protocol.Errorf(protocol.CodeIncorrectState, "The volume '%s' is '%s' and cannot be modified.", in.id, st)
	}
	if m := modification(v); m != nil && m.state == koalav1.ModificationStateModifying {
		return nil, protocol.Errorf(protocol.CodeIncorrectModificationState,
			"Volume '%s' is already being modified; wait until the modification completes.", in.id)
	}
	spec := v.Spec.DeepCopy()
	oldType := v.Type()
	newType := oldType
	if in.volumeType != "" {
		newType = in.volumeType
	}
	if in.size != nil {
		if *in.size < spec.Size {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue,
				"New size cannot be smaller than existing size (%d GiB requested, the volume has %d GiB).", *in.size, spec.Size)
		}
		spec.Size = *in.size
	}
	if err := checkSize(spec.Size, newType); err != nil {
		return nil, err
	}
	// What the new type does not have goes; what it needs must be asked for or kept.
	if in.iops != nil {
		spec.Iops = in.iops
	} else if newType != oldType {
		switch newType {
		case koalav1.VolumeTypeIO1, koalav1.VolumeTypeIO2:
			if spec.Iops == nil {
				spec.Iops = iops(v)
			}
		default:
			spec.Iops = nil
		}
	}
	if in.throughput != nil {
		spec.Throughput = in.throughput
	} else if newType != koalav1.VolumeTypeGP3 {
		spec.Throughput = nil
	}
	if err := checkPerformance(newType, spec.Iops, spec.Throughput); err != nil {
		return nil, err
	}
	spec.VolumeType = newType
	if equality.Semantic.DeepEqual(*spec, v.Spec) {
		return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "The modification of volume '%s' asks for no change.", in.id)
	}
	now := h.Now()
	base := v.DeepCopy()
	v.Spec = *spec
	if v.Annotations == nil {
		v.Annotations = map[string]string{}
	}
	v.Annotations[koalav1.ModifyTimeAnnotation] = now.UTC().Format("2006-01-02T15:04:05.000000000Z")
	if err := h.Store.Patch(ctx, v, client.MergeFrom(base)); err != nil {
		switch {
		case apierrors.IsInvalid(err):
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", firstCause(err))
		case apierrors.IsNotFound(err):
			return nil, volumeNotFound(in.id)
		}
		return nil, fmt.Errorf("modifying volume %s: %w", in.id, err)
	}
	m := modification(v)
	if m == nil {
		// The operator has not reported the volume yet: what it had is what it was
		// created with.
		m = &modificationView{state: koalav1.ModificationStateModifying, originalSize: base.Spec.Size, targetSize: spec.Size,
			originalType: oldType, targetType: newType, originalIops: iops(base), targetIops: iops(v),
			originalThroughput: throughput(base), targetThroughput: throughput(v)}
	}
	m.startTime = now
	return &modifyResponse{VolumeModification: renderModification(in.id, m)}, nil
}

// DescribeVolumesModifications.

type modShown struct {
	id string
	m  *modificationView
}

var modificationFilters = filter.Schema[*modShown]{
	Fields: map[string]func(*modShown) []string{
		"volume-id":                     func(s *modShown) []string { return []string{s.id} },
		"modification-state":            func(s *modShown) []string { return []string{string(s.m.state)} },
		"target-size":                   func(s *modShown) []string { return []string{strconv.Itoa(int(s.m.targetSize))} },
		"original-size":                 func(s *modShown) []string { return []string{strconv.Itoa(int(s.m.originalSize))} },
		"target-volume-type":            func(s *modShown) []string { return []string{string(s.m.targetType)} },
		"original-volume-type":          func(s *modShown) []string { return []string{string(s.m.originalType)} },
		"target-iops":                   func(s *modShown) []string { return optionalInt(s.m.targetIops) },
		"original-iops":                 func(s *modShown) []string { return optionalInt(s.m.originalIops) },
		"target-throughput":             func(s *modShown) []string { return optionalInt(s.m.targetThroughput) },
		"original-throughput":           func(s *modShown) []string { return optionalInt(s.m.originalThroughput) },
		"start-time":                    func(s *modShown) []string { return one(protocol.FormatTime(s.m.startTime)) },
		"target-multi-attach-enabled":   func(*modShown) []string { return []string{"false"} },
		"original-multi-attach-enabled": func(*modShown) []string { return []string{"false"} },
	},
}

type describeModificationsResponse struct {
	protocol.Meta
	Set       []modificationXML `xml:"volumeModificationSet>item"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func parseDescribeModifications(p *protocol.Params) (listInput, error) {
	return parseList(p, "DescribeVolumesModifications", 1)
}

func (h *Handlers) describeModifications(ctx context.Context, c *action.Call, in listInput) (protocol.Body, error) {
	match, err := modificationFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	selected, err := h.selectVolumes(ctx, c, in.ids)
	if err != nil {
		return nil, err
	}
	var kept []*modShown
	for _, s := range selected {
		m := modification(s.v)
		if m == nil {
			if len(in.ids) > 0 {
				return nil, protocol.Errorf(protocol.CodeInvalidVolumeModificationNotFound, "Modification for volume '%s' does not exist.", s.v.EC2ID())
			}
			continue
		}
		ms := &modShown{id: s.v.EC2ID(), m: m}
		if match.Match(ms) {
			kept = append(kept, ms)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].id < kept[j].id })
	page, next, err := protocol.Page(kept, func(s **modShown) string { return (*s).id }, in.max, in.token, in.scope)
	if err != nil {
		return nil, err
	}
	out := &describeModificationsResponse{NextToken: next}
	for _, s := range page {
		out.Set = append(out.Set, renderModification(s.id, s.m))
	}
	return out, nil
}
