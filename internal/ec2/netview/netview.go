// Package netview holds what the EC2 endpoint's network handlers (vpcs, subnets,
// securitygroups, addresses) share: reading Describe inputs, and turning the API
// server's refusals into EC2 errors.
package netview

import (
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ids"
)

// DescribeInput is a Describe call's explicit IDs, filters and page.
type DescribeInput struct {
	IDs     []string
	Filters []filter.Filter
	Max     int
	Token   string
	Scope   string
}

// ParseDescribe reads idParam.N (IDs of the prefix, each checked), Filter.N,
// MaxResults (5 to 1000; not with IDs) and NextToken.
func ParseDescribe(p *protocol.Params, action, idParam, prefix string, malformed func(string) error) (DescribeInput, error) {
	var in DescribeInput
	var err error
	if in.IDs, err = ParseIDs(p, idParam, prefix, malformed); err != nil {
		return in, err
	}
	if in.Filters, err = p.Filters(); err != nil {
		return in, err
	}
	max, hasMax, err := p.Int("MaxResults", 5, 1000)
	if err != nil {
		return in, err
	}
	if hasMax && len(in.IDs) > 0 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterCombination, "The parameter %s cannot be used with the parameter MaxResults", idParam)
	}
	in.Max = int(max)
	in.Token, _ = p.String("NextToken")
	in.Scope = action + "?" + p.Canonical("NextToken", "MaxResults")
	return in, nil
}

// ParseIDs reads name.N, refusing any that is not an ID of the prefix.
func ParseIDs(p *protocol.Params, name, prefix string, malformed func(string) error) ([]string, error) {
	list, err := p.Strings(name)
	if err != nil {
		return nil, err
	}
	for _, id := range list {
		if !ids.Valid(prefix, id) {
			return nil, malformed(id)
		}
	}
	return list, nil
}

// Malformed makes the malformed-ID error of a kind.
func Malformed(code, prefix string) func(string) error {
	return func(id string) error {
		return protocol.Errorf(code, "Invalid id: \"%s\" (expecting \"%s-...\")", id, prefix)
	}
}

// NotFound makes the not-found error of one or more IDs: "The vpc ID 'vpc-1' does not
// exist", "The vpc IDs 'vpc-1, vpc-2' do not exist".
func NotFound(code, noun string, missing []string) error {
	if len(missing) == 1 {
		return protocol.Errorf(code, "The %s ID '%s' does not exist", noun, missing[0])
	}
	return protocol.Errorf(code, "The %s IDs '%s' do not exist", noun, strings.Join(missing, ", "))
}

// APIError turns the API server's refusal of an object (its schema or CEL rules)
// into InvalidParameterValue, which it is: the checks before let through what the
// schema refuses. Other errors are returned as they are, with context.
func APIError(err error, doing string) error {
	if apierrors.IsInvalid(err) {
		if status, ok := err.(apierrors.APIStatus); ok {
			if d := status.Status().Details; d != nil && len(d.Causes) > 0 {
				return protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", d.Causes[0].Message)
			}
		}
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", err.Error())
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// OwnerFilter splits the owner-id filters off a Describe's filters: every object the
// endpoint shows is the caller's, so they match all or nothing.
func OwnerFilter(fs []filter.Filter, accountID string) (rest []filter.Filter, match bool, err error) {
	match = true
	for _, f := range fs {
		if f.Name != "owner-id" {
			rest = append(rest, f)
			continue
		}
		m, err := filter.Schema[string]{Fields: map[string]func(string) []string{"owner-id": func(s string) []string { return []string{s} }}}.Compile([]filter.Filter{f})
		if err != nil {
			return nil, false, err
		}
		match = match && m.Match(accountID)
	}
	return rest, match, nil
}

// BoolString is a bool as EC2's filters compare it.
func BoolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// Candidates returns the objects a Describe call looks at: with ids, each of them once
// (all must exist, else notFound names the missing ones); without, every object that
// has its EC2 ID.
func Candidates[T any, P interface {
	*T
	EC2ID() string
}](ids []string, one func(id string) (P, error), all func() ([]T, error), notFound func(missing ...string) error) ([]P, error) {
	var out []P
	if len(ids) == 0 {
		list, err := all()
		if err != nil {
			return nil, err
		}
		for i := range list {
			if P(&list[i]).EC2ID() != "" {
				out = append(out, &list[i])
			}
		}
		return out, nil
	}
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		obj, err := one(id)
		if err != nil {
			return nil, err
		}
		if obj == nil {
			missing = append(missing, id)
			continue
		}
		out = append(out, obj)
	}
	if len(missing) > 0 {
		return nil, notFound(missing...)
	}
	return out, nil
}
