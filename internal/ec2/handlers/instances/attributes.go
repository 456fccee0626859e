package instances

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
)

// attributes are the names DescribeInstanceAttribute and ModifyInstanceAttribute take.
var attributes = map[string]bool{
	"instanceType": true, "kernel": true, "ramdisk": true, "userData": true, "disableApiTermination": true,
	"instanceInitiatedShutdownBehavior": true, "rootDeviceName": true, "blockDeviceMapping": true,
	"productCodes": true, "sourceDestCheck": true, "groupSet": true, "ebsOptimized": true, "sriovNetSupport": true,
	"enaSupport": true, "enclaveOptions": true, "disableApiStop": true,
}

type attributeInput struct {
	id, attribute string
}

func parseInstanceID(p *protocol.Params) (string, error) {
	id, err := p.Required("InstanceId")
	if err != nil {
		return "", err
	}
	if !ids.Valid(ids.Instance, id) {
		return "", malformedInstanceID(id)
	}
	return id, nil
}

func parseDescribeAttribute(p *protocol.Params) (attributeInput, error) {
	id, err := parseInstanceID(p)
	if err != nil {
		return attributeInput{}, err
	}
	attr, err := p.Required("Attribute")
	if err != nil {
		return attributeInput{}, err
	}
	if !attributes[attr] {
		return attributeInput{}, protocol.InvalidValue("Attribute", attr, "")
	}
	return attributeInput{id: id, attribute: attr}, nil
}

func (h *Handlers) instance(ctx context.Context, c *action.Call, id string) (*koalav1.Instance, error) {
	inst, err := h.Store.Instance(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if inst == nil {
		return nil, notFound([]string{id})
	}
	return inst, nil
}

func (h *Handlers) describeAttribute(ctx context.Context, c *action.Call, in attributeInput) (protocol.Body, error) {
	inst, err := h.instance(ctx, c, in.id)
	if err != nil {
		return nil, err
	}
	out := &instanceAttributeResponse{InstanceID: in.id}
	switch in.attribute {
	case "instanceType":
		out.InstanceType = &valueXML{Value: inst.Spec.InstanceType}
	case "kernel":
		out.Kernel = &valueXML{}
	case "ramdisk":
		out.Ramdisk = &valueXML{}
	case "userData":
		out.UserData = &valueXML{Value: inst.Spec.UserData}
	case "disableApiTermination":
		out.DisableAPITermination = &boolValueXML{Value: inst.Spec.DisableAPITermination}
	case "disableApiStop":
		out.DisableAPIStop = &boolValueXML{Value: inst.Spec.DisableAPIStop}
	case "instanceInitiatedShutdownBehavior":
		b := inst.Spec.InstanceInitiatedShutdownBehavior
		if b == "" {
			b = koalav1.ShutdownBehaviorStop
		}
		out.InstanceInitiatedShutdownBehavior = &valueXML{Value: string(b)}
	case "rootDeviceName":
		out.RootDeviceName = &valueXML{Value: rootDeviceName(inst)}
	case "blockDeviceMapping":
		bdm := blockDevices(h.volumesOf(ctx, inst), inst.EC2ID(), rootDeviceName(inst))
		out.BlockDeviceMapping = &bdm
	case "productCodes":
		out.ProductCodes = &emptyListXML{}
	case "sourceDestCheck":
		out.SourceDestCheck = &boolValueXML{Value: true}
	case "groupSet":
		out.GroupSet = &groupSetXML{}
		for _, id := range groupsOf(inst) {
			name := ""
			if g, err := h.Store.SecurityGroup(ctx, c.Account, id); err == nil && g != nil {
				name = g.Spec.GroupName
			}
			out.GroupSet.Items = append(out.GroupSet.Items, groupXML{GroupID: id, GroupName: name})
		}
	case "ebsOptimized":
		out.EbsOptimized = &boolValueXML{Value: false}
	case "sriovNetSupport":
		out.SriovNetSupport = &valueXML{Value: "simple"}
	case "enaSupport":
		out.EnaSupport = &boolValueXML{Value: true}
	case "enclaveOptions":
		out.EnclaveOptions = &enabledXML{Enabled: false}
	}
	return out, nil
}

// modification is one ModifyInstanceAttribute change.
type modification struct {
	id, attribute, value string
	// deleteOnTermination are the changes of BlockDeviceMapping.N, by device.
	deleteOnTermination map[string]bool
	// groups are GroupId.N: the instance's new security groups.
	groups []string
}

// modifiable maps the X.Value parameter forms to attribute names.
var modifiable = map[string]string{
	"InstanceType":                      "instanceType",
	"UserData":                          "userData",
	"DisableApiTermination":             "disableApiTermination",
	"DisableApiStop":                    "disableApiStop",
	"InstanceInitiatedShutdownBehavior": "instanceInitiatedShutdownBehavior",
	"SourceDestCheck":                   "sourceDestCheck",
	"EbsOptimized":                      "ebsOptimized",
	"EnaSupport":                        "enaSupport",
	"SriovNetSupport":                   "sriovNetSupport",
	"Kernel":                            "kernel",
	"Ramdisk":                           "ramdisk",
}

// parseModifyAttribute accepts both forms EC2 takes: Attribute=x&Value=y, and
// X.Value=y. Exactly one attribute may change per call, as in EC2.
func parseModifyAttribute(p *protocol.Params) (modification, error) {
	id, err := parseInstanceID(p)
	if err != nil {
		return modification{}, err
	}
	var found []modification
	if attr, ok := p.String("Attribute"); ok {
		if !attributes[attr] {
			return modification{}, protocol.InvalidValue("Attribute", attr, "")
		}
		value, _ := p.String("Value")
		found = append(found, modification{id: id, attribute: attr, value: value})
	} else if _, ok := p.String("Value"); ok {
		return modification{}, protocol.MissingParameter("Attribute")
	}
	for param, attr := range modifiable {
		if v, ok := p.String(param + ".Value"); ok {
			found = append(found, modification{id: id, attribute: attr, value: v})
		}
	}
	groups, err := p.Strings("GroupId")
	if err != nil {
		return modification{}, err
	}
	if len(groups) > 0 {
		for _, g := range groups {
			if !ids.Valid(ids.SecurityGroup, g) {
				return modification{}, protocol.Errorf(protocol.CodeInvalidGroupIDMalformed, "Invalid id: \"%s\" (expecting \"sg-...\")", g)
			}
		}
		found = append(found, modification{id: id, attribute: "groupSet", groups: groups})
	}
	if dot, err := parseDeleteOnTermination(p); err != nil {
		return modification{}, err
	} else if dot != nil {
		found = append(found, modification{id: id, attribute: "blockDeviceMapping", deleteOnTermination: dot})
	}
	switch len(found) {
	case 0:
		return modification{}, protocol.Errorf(protocol.CodeMissingParameter, "The request must contain an attribute to modify")
	case 1:
		return found[0], nil
	}
	return modification{}, protocol.Errorf(protocol.CodeInvalidParameterCombination, "Only one attribute can be modified at a time")
}

func parseBool(name, v string) (bool, error) {
	switch v {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	return false, protocol.InvalidValue(name, v, "Expected true or false.")
}

func (h *Handlers) modifyAttribute(ctx context.Context, c *action.Call, m modification) (protocol.Body, error) {
	inst, err := h.instance(ctx, c, m.id)
	if err != nil {
		return nil, err
	}
	base := inst.DeepCopy()
	state := inst.DisplayState()
	requireStopped := func() error {
		if state != koalav1.InstanceStateStopped {
			return protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' is not in the 'stopped' state.", m.id)
		}
		return nil
	}
	switch m.attribute {
	case "instanceType":
		if err := requireStopped(); err != nil {
			return nil, err
		}
		it, err := h.Store.InstanceType(ctx, m.value)
		if err != nil {
			return nil, err
		}
		if it == nil {
			return nil, protocol.InvalidValue("InstanceType", m.value, "")
		}
		inst.Spec.InstanceType = m.value
	case "userData":
		if err := requireStopped(); err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(m.value)
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidUserDataMalformed, "Invalid BASE64 encoding of user data.")
		}
		if len(raw) > maxUserData {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "User data is limited to %d bytes", maxUserData)
		}
		// Re-encoded without the line breaks the decoder skips, as in RunInstances.
		inst.Spec.UserData = base64.StdEncoding.EncodeToString(raw)
	case "disableApiTermination":
		if inst.Spec.DisableAPITermination, err = parseBool("DisableApiTermination", m.value); err != nil {
			return nil, err
		}
	case "disableApiStop":
		if inst.Spec.DisableAPIStop, err = parseBool("DisableApiStop", m.value); err != nil {
			return nil, err
		}
	case "instanceInitiatedShutdownBehavior":
		b := koalav1.ShutdownBehavior(m.value)
		if b != koalav1.ShutdownBehaviorStop && b != koalav1.ShutdownBehaviorTerminate {
			return nil, protocol.InvalidValue("InstanceInitiatedShutdownBehavior", m.value, "Expected stop or terminate.")
		}
		inst.Spec.InstanceInitiatedShutdownBehavior = b
	case "sourceDestCheck", "enaSupport":
		// Koala's network always checks source and destination and always offers
		// ENA-like networking: setting the value it has is fine, the other is refused.
		v, err := parseBool(m.attribute, m.value)
		if err != nil {
			return nil, err
		}
		if !v {
			return nil, protocol.Errorf(protocol.CodeUnsupportedOperation, "%s cannot be disabled", m.attribute)
		}
		return protocol.OK(), nil
	case "ebsOptimized":
		v, err := parseBool("EbsOptimized", m.value)
		if err != nil {
			return nil, err
		}
		if v {
			return nil, protocol.Errorf(protocol.CodeUnsupportedOperation, "EBS optimization is not supported")
		}
		return protocol.OK(), nil
	case "blockDeviceMapping":
		return h.modifyDeleteOnTermination(ctx, c, inst, m.deleteOnTermination)
	case "groupSet":
		if err := h.checkGroups(ctx, c, inst, m.groups); err != nil {
			return nil, err
		}
		groups := slices.Clone(m.groups)
		sort.Strings(groups)
		inst.Spec.SecurityGroupIDs = slices.Compact(groups)
	default:
		return nil, protocol.Errorf(protocol.CodeUnsupportedOperation, "The attribute %s cannot be modified", m.attribute)
	}
	if err := h.Store.Patch(ctx, inst, client.MergeFrom(base)); err != nil {
		if apierrors.IsInvalid(err) {
			return nil, protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' cannot be modified now: %s", m.id, firstCause(err))
		}
		return nil, fmt.Errorf("modifying %s of %s: %w", m.attribute, m.id, err)
	}
	return protocol.OK(), nil
}

// checkGroups refuses groups that are not groups of the instance's VPC, as EC2 does.
func (h *Handlers) checkGroups(ctx context.Context, c *action.Call, inst *koalav1.Instance, groups []string) error {
	if s := inst.DisplayState(); s == koalav1.InstanceStateTerminated || s == koalav1.InstanceStateShuttingDown {
		return protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be modified.", inst.EC2ID())
	}
	vpcID := inst.Status.VPCID
	if vpcID == "" {
		if subnetOf(inst) == "" {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "The instance '%s' is not in a VPC: it has no security groups", inst.EC2ID())
		}
		sub, err := h.Store.Subnet(ctx, c.Account, subnetOf(inst))
		if err != nil {
			return err
		}
		if sub != nil {
			vpcID = sub.Spec.VPCID
		}
	}
	for _, id := range groups {
		g, err := h.Store.SecurityGroup(ctx, c.Account, id)
		if err != nil {
			return err
		}
		if g == nil || !g.DeletionTimestamp.IsZero() {
			return protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist", id)
		}
		if g.Spec.VPCID != vpcID {
			return protocol.Errorf(protocol.CodeInvalidGroupNotFound, "The security group '%s' does not exist in VPC '%s'", id, vpcID)
		}
	}
	return nil
}
