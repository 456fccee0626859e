package regions

import (
	"context"

	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
)

// accountAttribute is one of EC2's account attributes and its values.
type accountAttribute struct {
	name   string
	values []string
}

// accountAttributes are the attributes DescribeAccountAttributes answers, in the order
// EC2 lists them.
var accountAttributes = []accountAttribute{
	{"vpc-max-security-groups-per-interface", []string{"5"}},
	// max-instances is a fixed figure until quotas exist (a later issue); EC2 itself
	// says the attribute no longer reflects the real limit.
	{"max-instances", []string{"1000"}},
	{"supported-platforms", []string{"VPC"}},
	// No default VPC until networks exist (a later issue).
	{"default-vpc", []string{"none"}},
	{"max-elastic-ips", []string{"5"}},
	{"vpc-max-elastic-ips", []string{"5"}},
}

func findAttribute(name string) (accountAttribute, bool) {
	for _, a := range accountAttributes {
		if a.name == name {
			return a, true
		}
	}
	return accountAttribute{}, false
}

// parseDescribeAccountAttributes returns the attributes asked for (each once, in the
// order asked), or all of them.
func parseDescribeAccountAttributes(p *protocol.Params) ([]accountAttribute, error) {
	names, err := p.Strings("AttributeName")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return accountAttributes, nil
	}
	out := make([]accountAttribute, 0, len(names))
	for _, n := range unique(names) {
		a, ok := findAttribute(n)
		if !ok {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue,
				"Value (%s) for parameter attributeName is invalid. Unknown attribute.", n)
		}
		out = append(out, a)
	}
	return out, nil
}

func (h *Handlers) describeAccountAttributes(_ context.Context, _ *action.Call, attrs []accountAttribute) (protocol.Body, error) {
	out := &describeAccountAttributesResponse{}
	for _, a := range attrs {
		x := accountAttributeXML{AttributeName: a.name}
		for _, v := range a.values {
			x.AttributeValueSet = append(x.AttributeValueSet, attributeValueXML{AttributeValue: v})
		}
		out.AccountAttributeSet.Items = append(out.AccountAttributeSet.Items, x)
	}
	return out, nil
}
