package instances

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/quota"
)

// parseIDs reads the InstanceId.N list that the power actions require.
func parseIDs(p *protocol.Params) ([]string, error) {
	list, err := p.Strings("InstanceId")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, protocol.MissingParameter("InstanceId")
	}
	if len(list) > 1000 {
		return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "At most 1000 instance IDs may be given")
	}
	for _, id := range list {
		if !ids.Valid(ids.Instance, id) {
			return nil, malformedInstanceID(id)
		}
	}
	return list, nil
}

type stopInput struct {
	ids []string
}

func parseStop(p *protocol.Params) (stopInput, error) {
	list, err := parseIDs(p)
	if err != nil {
		return stopInput{}, err
	}
	// Force and SkipOsShutdown change how the guest goes down; KubeVirt stops it either
	// way, so they are accepted.
	for _, name := range []string{"Force", "SkipOsShutdown"} {
		if _, _, err := p.Bool(name); err != nil {
			return stopInput{}, err
		}
	}
	if hib, _, err := p.Bool("Hibernate"); err != nil {
		return stopInput{}, err
	} else if hib {
		return stopInput{}, protocol.Errorf(protocol.CodeUnsupportedOperation, "Hibernation is not supported")
	}
	return stopInput{ids: list}, nil
}

// lookupAll finds every instance named, failing (before any change) if one is missing.
func (h *Handlers) lookupAll(ctx context.Context, c *action.Call, idList []string) ([]*koalav1.Instance, error) {
	var out []*koalav1.Instance
	var missing []string
	seen := map[string]bool{}
	for _, id := range idList {
		if seen[id] {
			continue
		}
		seen[id] = true
		inst, err := h.Store.Instance(ctx, c.Account, id)
		if err != nil {
			return nil, err
		}
		if inst == nil {
			missing = append(missing, id)
			continue
		}
		out = append(out, inst)
	}
	if len(missing) > 0 {
		return nil, notFound(missing)
	}
	return out, nil
}

// setDesiredState patches spec.state. The CRD's rules refuse a change that is not
// allowed (a terminated instance, disableApiStop, ...); those refusals become EC2
// errors.
func (h *Handlers) setDesiredState(ctx context.Context, inst *koalav1.Instance, want koalav1.InstanceDesiredState) error {
	if inst.Spec.State == want {
		return nil
	}
	base := inst.DeepCopy()
	inst.Spec.State = want
	if err := h.Store.Patch(ctx, inst, client.MergeFrom(base)); err != nil {
		if apierrors.IsInvalid(err) {
			return protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' cannot be %s: %s", inst.EC2ID(), want, firstCause(err))
		}
		if apierrors.IsNotFound(err) {
			return notFound([]string{inst.EC2ID()})
		}
		return fmt.Errorf("updating instance %s: %w", inst.EC2ID(), err)
	}
	return nil
}

func firstCause(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok {
		if d := status.Status().Details; d != nil && len(d.Causes) > 0 {
			return d.Causes[0].Message
		}
	}
	return err.Error()
}

func incorrectState(id, doing string) error {
	return protocol.Errorf(protocol.CodeIncorrectInstanceState, "The instance '%s' is not in a state from which it can be %s.", id, doing)
}

func (h *Handlers) start(ctx context.Context, c *action.Call, idList []string) (protocol.Body, error) {
	insts, err := h.lookupAll(ctx, c, idList)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		switch inst.DisplayState() {
		case koalav1.InstanceStateStopping, koalav1.InstanceStateShuttingDown, koalav1.InstanceStateTerminated:
			return nil, incorrectState(inst.EC2ID(), "started")
		}
	}
	// Starting stopped instances takes capacity: the quotas must allow all of them.
	used, unlock, err := h.lockUsage(ctx, c)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if used != nil {
		types, err := h.catalog(ctx)
		if err != nil {
			return nil, err
		}
		var more quota.Usage
		for _, inst := range insts {
			if !quota.Counts(inst) {
				more = more.Add(quota.Of(types[inst.Spec.InstanceType], 1))
			}
		}
		if exceeded := quota.Check(c.Account.Quotas, *used, more); exceeded != nil {
			return nil, exceeded
		}
	}
	return h.changeStates(ctx, insts, koalav1.DesiredStateRunning)
}

func (h *Handlers) stop(ctx context.Context, c *action.Call, in stopInput) (protocol.Body, error) {
	insts, err := h.lookupAll(ctx, c, in.ids)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		switch inst.DisplayState() {
		case koalav1.InstanceStatePending, koalav1.InstanceStateShuttingDown, koalav1.InstanceStateTerminated:
			return nil, incorrectState(inst.EC2ID(), "stopped")
		}
		if inst.Spec.DisableAPIStop && inst.Spec.State != koalav1.DesiredStateStopped {
			return nil, protocol.Errorf(protocol.CodeOperationNotPermitted,
				"The instance '%s' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.", inst.EC2ID())
		}
	}
	return h.changeStates(ctx, insts, koalav1.DesiredStateStopped)
}

func (h *Handlers) terminate(ctx context.Context, c *action.Call, idList []string) (protocol.Body, error) {
	insts, err := h.lookupAll(ctx, c, idList)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		if inst.Spec.DisableAPITermination && inst.Spec.State != koalav1.DesiredStateTerminated {
			return nil, protocol.Errorf(protocol.CodeOperationNotPermitted,
				"The instance '%s' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.", inst.EC2ID())
		}
	}
	return h.changeStates(ctx, insts, koalav1.DesiredStateTerminated)
}

// changeStates asks each instance for a power state and answers with each one's state
// before and after.
func (h *Handlers) changeStates(ctx context.Context, insts []*koalav1.Instance, want koalav1.InstanceDesiredState) (protocol.Body, error) {
	out := &stateChangeResponse{}
	for _, inst := range insts {
		previous := inst.DisplayState()
		if err := h.setDesiredState(ctx, inst, want); err != nil {
			return nil, err
		}
		out.InstancesSet = append(out.InstancesSet, stateChangeXML{
			InstanceID:    inst.EC2ID(),
			PreviousState: stateOf(previous),
			CurrentState:  stateOf(inst.DisplayState()),
		})
	}
	return out, nil
}

func (h *Handlers) reboot(ctx context.Context, c *action.Call, idList []string) (protocol.Body, error) {
	insts, err := h.lookupAll(ctx, c, idList)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		if s := inst.DisplayState(); s == koalav1.InstanceStateTerminated || s == koalav1.InstanceStateShuttingDown {
			return nil, incorrectState(inst.EC2ID(), "rebooted")
		}
	}
	now := h.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	for _, inst := range insts {
		// EC2 ignores a reboot of an instance that is not running; so does the operator.
		if inst.DisplayState() != koalav1.InstanceStateRunning {
			continue
		}
		patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, koalav1.RebootRequestedAnnotation, now))
		if err := h.Store.Patch(ctx, inst, client.RawPatch("application/merge-patch+json", patch)); err != nil {
			return nil, fmt.Errorf("requesting reboot of %s: %w", inst.EC2ID(), err)
		}
	}
	return protocol.OK(), nil
}
