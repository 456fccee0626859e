// Package action defines what an EC2 action is to the server: a name, whether it
// changes anything, and a handler that first reads and checks all its parameters and
// only then runs.
package action

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
)

// Call is one authenticated request to an action.
type Call struct {
	Action    string
	Params    *protocol.Params
	Account   store.Account
	KeyID     string
	RequestID string
	// Resources are the IDs of what the call created, for the audit log (the IDs it
	// was given are read from its parameters).
	Resources []string
}

// Created records the IDs of resources the call created, for the audit log.
func (c *Call) Created(ids ...string) { c.Resources = append(c.Resources, ids...) }

// Action is one entry of the server's action table.
type Action struct {
	Name string
	// Mutating actions change state (used for permissions, throttling and audit).
	Mutating bool
	// Handle answers a call.
	Handle func(ctx context.Context, c *Call) (protocol.Body, error)
}

// Bind makes an action from a parse step and a run step. Every parameter is read and
// checked by parse; a parameter that parse did not read is refused (UnknownParameter)
// and DryRun is answered before run can change anything.
func Bind[In any](name string, mutating bool,
	parse func(p *protocol.Params) (In, error),
	run func(ctx context.Context, c *Call, in In) (protocol.Body, error),
) Action {
	return Action{
		Name:     name,
		Mutating: mutating,
		Handle: func(ctx context.Context, c *Call) (protocol.Body, error) {
			dryRun, _, err := c.Params.Bool("DryRun")
			if err != nil {
				return nil, err
			}
			in, err := parse(c.Params)
			if err != nil {
				return nil, err
			}
			if err := c.Params.CheckUnused(); err != nil {
				return nil, err
			}
			if dryRun {
				return nil, protocol.Errorf(protocol.CodeDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
			}
			return run(ctx, c, in)
		},
	}
}

// NoInput is the parse step of an action without parameters of its own.
func NoInput(*protocol.Params) (struct{}, error) { return struct{}{}, nil }
