package protocol

import (
	"net/url"
	"strconv"
	"testing"
)

// A RunInstances request as the AWS CLI sends it, with tags, and a DescribeInstances
// with three filters.
func benchQueries() []string {
	run := url.Values{"Action": {"RunInstances"}, "Version": {APIVersion}, "ImageId": {"ami-0123456789abcdef0"},
		"InstanceType": {"t3.micro"}, "MinCount": {"1"}, "MaxCount": {"1"}, "KeyName": {"demo"},
		"ClientToken": {"0d1c8bd0-7a1d-4f4e-9b9e-2a7f6c0f8a11"}}
	for i := 1; i <= 10; i++ {
		n := strconv.Itoa(i)
		run.Set("TagSpecification.1.Tag."+n+".Key", "key-"+n)
		run.Set("TagSpecification.1.Tag."+n+".Value", "value "+n)
	}
	run.Set("TagSpecification.1.ResourceType", "instance")
	describe := url.Values{"Action": {"DescribeInstances"}, "Version": {APIVersion}, "MaxResults": {"1000"},
		"Filter.1.Name": {"tag:Name"}, "Filter.1.Value.1": {"web-*"}, "Filter.2.Name": {"instance-state-name"},
		"Filter.2.Value.1": {"running"}, "Filter.2.Value.2": {"pending"}, "Filter.3.Name": {"instance-type"}, "Filter.3.Value.1": {"t3.*"}}
	return []string{run.Encode(), describe.Encode()}
}

func BenchmarkParseQuery(b *testing.B) {
	qs := benchQueries()
	b.ReportAllocs()
	for b.Loop() {
		for _, q := range qs {
			p, err := ParseQuery(q)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Filters(); err != nil {
				b.Fatal(err)
			}
			if _, err := p.Structs("TagSpecification"); err != nil {
				b.Fatal(err)
			}
		}
	}
}
