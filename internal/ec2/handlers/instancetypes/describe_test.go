package instancetypes

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
)

// Fixtures.

type fakeStore struct {
	types []instancetypev1beta1.VirtualMachineClusterInstancetype
	err   error
}

func (f *fakeStore) InstanceTypes(context.Context) ([]instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	return f.types, f.err
}

type typeOption func(*instancetypev1beta1.VirtualMachineClusterInstancetype)

func withAnnotation(key, value string) typeOption {
	return func(it *instancetypev1beta1.VirtualMachineClusterInstancetype) {
		if it.Annotations == nil {
			it.Annotations = map[string]string{}
		}
		it.Annotations[key] = value
	}
}

// instancetype is a VirtualMachineClusterInstancetype as an admin would write it: a
// name, vCPUs and memory, and nothing of Koala's unless options add it.
func instancetype(name string, vcpus uint32, memory string, opts ...typeOption) instancetypev1beta1.VirtualMachineClusterInstancetype {
	it := instancetypev1beta1.VirtualMachineClusterInstancetype{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: instancetypev1beta1.VirtualMachineInstancetypeSpec{
			CPU:    instancetypev1beta1.CPUInstancetype{Guest: vcpus},
			Memory: instancetypev1beta1.MemoryInstancetype{Guest: resource.MustParse(memory)},
		},
	}
	for _, o := range opts {
		o(&it)
	}
	return it
}

// cluster is Koala's default catalog plus the given instancetypes, in no useful order.
func cluster(extra ...instancetypev1beta1.VirtualMachineClusterInstancetype) *fakeStore {
	types := append(catalog.Default(), extra...)
	// The cache lists in no particular order; the handler must sort.
	for i, j := 0, len(types)-1; i < j; i, j = i+1, j-1 {
		types[i], types[j] = types[j], types[i]
	}
	return &fakeStore{types: types}
}

var adminMedium = instancetype("u1.medium", 1, "2Gi")

// call runs DescribeInstanceTypes through the action table and returns the XML a
// client would receive, or the error.
func call(t *testing.T, s Store, params map[string]string) ([]byte, error) {
	t.Helper()
	h := &Handlers{Store: s}
	var act *action.Action
	for _, a := range h.Actions() {
		if a.Name == "DescribeInstanceTypes" {
			act = &a
		}
	}
	if act == nil {
		t.Fatal("DescribeInstanceTypes is not in the action table")
	}
	if act.Mutating {
		t.Error("DescribeInstanceTypes is marked mutating")
	}
	body, err := act.Handle(context.Background(), &action.Call{
		Action:    "DescribeInstanceTypes",
		Params:    protocol.FromValues(params),
		Account:   store.Account{ID: "123456789012", Namespace: "demo"},
		RequestID: "r",
	})
	if err != nil {
		return nil, err
	}
	out, err := protocol.Marshal("DescribeInstanceTypes", "r", body)
	if err != nil {
		t.Fatal(err)
	}
	return out, nil
}

func mustCall(t *testing.T, s Store, params map[string]string) *doc {
	t.Helper()
	out, err := call(t, s, params)
	if err != nil {
		t.Fatalf("DescribeInstanceTypes(%v): %v", params, err)
	}
	return parse(t, out)
}

// doc is a response as a client sees it: the root element and, for every leaf element,
// its path below the root ("instanceTypeSet/item/instanceType") and its texts in
// document order. An empty element is a leaf with the text "".
type doc struct {
	root   xml.Name
	leaves map[string][]string
}

func parse(t *testing.T, b []byte) *doc {
	t.Helper()
	d := &doc{leaves: map[string][]string{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var path []string
	var text strings.Builder
	hasChild := []bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("response is not XML: %v\n%s", err, b)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if len(path) == 0 && d.root.Local == "" {
				d.root = el.Name
			}
			if len(hasChild) > 0 {
				hasChild[len(hasChild)-1] = true
			}
			path = append(path, el.Name.Local)
			hasChild = append(hasChild, false)
			text.Reset()
		case xml.CharData:
			text.Write(el)
		case xml.EndElement:
			if !hasChild[len(hasChild)-1] && len(path) > 1 {
				p := strings.Join(path[1:], "/")
				d.leaves[p] = append(d.leaves[p], strings.TrimSpace(text.String()))
			}
			path = path[:len(path)-1]
			hasChild = hasChild[:len(hasChild)-1]
			text.Reset()
		}
	}
	return d
}

func (d *doc) get(path string) []string { return d.leaves[path] }

func (d *doc) names() []string { return d.get("instanceTypeSet/item/instanceType") }

func codeOf(err error) string {
	e, ok := protocol.AsError(err)
	if !ok {
		return "not an EC2 error: " + err.Error()
	}
	return e.Code
}

func catalogNames(extra ...string) []string {
	var out []string
	for _, it := range catalog.Default() {
		out = append(out, it.Name)
	}
	out = append(out, extra...)
	sort.Strings(out)
	return out
}

// Tests.

func TestDescribeInstanceTypesAnswersWhatClientsRead(t *testing.T) {
	d := mustCall(t, cluster(), map[string]string{"InstanceType.1": "t3.micro"})
	if d.root.Local != "DescribeInstanceTypesResponse" || d.root.Space != protocol.Namespace {
		t.Errorf("root element = %v", d.root)
	}
	const item = "instanceTypeSet/item/"
	want := map[string][]string{
		"requestId":                                                     {"r"},
		item + "instanceType":                                           {"t3.micro"},
		item + "currentGeneration":                                      {"true"},
		item + "freeTierEligible":                                       {"true"},
		item + "supportedUsageClasses/item":                             {"on-demand"},
		item + "supportedRootDeviceTypes/item":                          {"ebs"},
		item + "supportedVirtualizationTypes/item":                      {"hvm"},
		item + "bareMetal":                                              {"false"},
		item + "hypervisor":                                             {"nitro"},
		item + "processorInfo/supportedArchitectures/item":              {"x86_64"},
		item + "processorInfo/sustainedClockSpeedInGhz":                 {"3.1"},
		item + "processorInfo/manufacturer":                             {"Intel"},
		item + "vCpuInfo/defaultVCpus":                                  {"2"},
		item + "vCpuInfo/defaultCores":                                  {"1"},
		item + "vCpuInfo/defaultThreadsPerCore":                         {"2"},
		item + "memoryInfo/sizeInMiB":                                   {"1024"},
		item + "instanceStorageSupported":                               {"false"},
		item + "ebsInfo/ebsOptimizedSupport":                            {"default"},
		item + "ebsInfo/encryptionSupport":                              {"supported"},
		item + "ebsInfo/nvmeSupport":                                    {"required"},
		item + "networkInfo/networkPerformance":                         {"Up to 5 Gigabit"},
		item + "networkInfo/maximumNetworkInterfaces":                   {"3"},
		item + "networkInfo/maximumNetworkCards":                        {"1"},
		item + "networkInfo/defaultNetworkCardIndex":                    {"0"},
		item + "networkInfo/networkCards/item/networkCardIndex":         {"0"},
		item + "networkInfo/networkCards/item/networkPerformance":       {"Up to 5 Gigabit"},
		item + "networkInfo/networkCards/item/maximumNetworkInterfaces": {"3"},
		item + "networkInfo/ipv4AddressesPerInterface":                  {"15"},
		item + "networkInfo/ipv6AddressesPerInterface":                  {"15"},
		item + "networkInfo/ipv6Supported":                              {"false"},
		item + "networkInfo/enaSupport":                                 {"required"},
		item + "networkInfo/efaSupported":                               {"false"},
		item + "networkInfo/encryptionInTransitSupported":               {"false"},
		item + "placementGroupInfo/supportedStrategies":                 {""},
		item + "hibernationSupported":                                   {"false"},
		item + "burstablePerformanceSupported":                          {"true"},
		item + "dedicatedHostsSupported":                                {"false"},
		item + "autoRecoverySupported":                                  {"true"},
		item + "supportedBootModes/item":                                {"legacy-bios", "uefi"},
		item + "nitroEnclavesSupport":                                   {"unsupported"},
		item + "nitroTpmSupport":                                        {"unsupported"},
		item + "phcSupport":                                             {"unsupported"},
	}
	for path, w := range want {
		if got := d.get(path); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %q, want %q", path, got, w)
		}
	}
	for _, absent := range []string{"nextToken", item + "vCpuInfo/validCores/item", item + "supportedInRegion"} {
		if got, ok := d.leaves[absent]; ok {
			t.Errorf("%s is present (%q); EC2 leaves it out here", absent, got)
		}
	}
}

func TestDescribeInstanceTypesShowsAnAdminsInstancetypeWithDefaults(t *testing.T) {
	d := mustCall(t, cluster(adminMedium), map[string]string{"InstanceType.1": "u1.medium"})
	const item = "instanceTypeSet/item/"
	want := map[string]string{
		item + "instanceType":                              "u1.medium",
		item + "burstablePerformanceSupported":             "false",
		item + "freeTierEligible":                          "false",
		item + "processorInfo/supportedArchitectures/item": "x86_64",
		item + "vCpuInfo/defaultVCpus":                     "1",
		item + "vCpuInfo/defaultCores":                     "1",
		item + "vCpuInfo/defaultThreadsPerCore":            "1",
		item + "memoryInfo/sizeInMiB":                      "2048",
		item + "networkInfo/networkPerformance":            "Moderate",
	}
	for path, w := range want {
		if got := d.get(path); len(got) != 1 || got[0] != w {
			t.Errorf("%s = %q, want %q", path, got, w)
		}
	}
	if got := mustCall(t, cluster(adminMedium), nil).names(); !reflect.DeepEqual(got, catalogNames("u1.medium")) {
		t.Errorf("listing without names = %v; want the catalog and u1.medium", got)
	}
}

func TestDescribeInstanceTypesSelects(t *testing.T) {
	armSmall := instancetype("a2.small", 2, "2Gi",
		withAnnotation(koalav1.InstanceTypeArchitectureAnnotation, "arm64"),
		withAnnotation(koalav1.InstanceTypeNetworkPerformanceAnnotation, "Up to 12.5 Gigabit"))
	cases := map[string]struct {
		params map[string]string
		want   []string
	}{
		"without names or filters every instancetype is listed, sorted by name": {
			params: nil,
			want:   catalogNames("a2.small", "u1.medium"),
		},
		"InstanceType.N lists the named types, each once": {
			params: map[string]string{"InstanceType.1": "m5.large", "InstanceType.2": "c5.large", "InstanceType.3": "m5.large"},
			want:   []string{"c5.large", "m5.large"},
		},
		"the instance-type filter takes wildcards": {
			params: map[string]string{"Filter.1.Name": "instance-type", "Filter.1.Value.1": "t3.*large"},
			want:   []string{"t3.2xlarge", "t3.large", "t3.xlarge"},
		},
		"burstable-performance-supported keeps the T family": {
			params: map[string]string{"Filter.1.Name": "burstable-performance-supported", "Filter.1.Value.1": "true"},
			want:   []string{"t3.2xlarge", "t3.large", "t3.medium", "t3.micro", "t3.nano", "t3.small", "t3.xlarge"},
		},
		"free-tier-eligible keeps t3.micro": {
			params: map[string]string{"Filter.1.Name": "free-tier-eligible", "Filter.1.Value.1": "true"},
			want:   []string{"t3.micro"},
		},
		"several values of one filter are alternatives": {
			params: map[string]string{"Filter.1.Name": "vcpu-info.default-vcpus", "Filter.1.Value.1": "72", "Filter.1.Value.2": "36"},
			want:   []string{"c5.18xlarge", "c5.9xlarge"},
		},
		"several filters must all match": {
			params: map[string]string{
				"Filter.1.Name": "memory-info.size-in-mib", "Filter.1.Value.1": "16384",
				"Filter.2.Name": "vcpu-info.default-cores", "Filter.2.Value.1": "2",
			},
			want: []string{"m5.xlarge", "t3.xlarge"},
		},
		"processor-info.supported-architecture finds an admin's arm64 type": {
			params: map[string]string{"Filter.1.Name": "processor-info.supported-architecture", "Filter.1.Value.1": "arm64"},
			want:   []string{"a2.small"},
		},
		"network-info.network-performance matches the catalog's wording": {
			params: map[string]string{"Filter.1.Name": "network-info.network-performance", "Filter.1.Value.1": "25 Gigabit"},
			want:   []string{"c5.18xlarge", "c5.24xlarge", "m5.24xlarge", "r5.24xlarge"},
		},
		"vcpu-info.default-threads-per-core is 1 for an odd vCPU count": {
			params: map[string]string{"Filter.1.Name": "vcpu-info.default-threads-per-core", "Filter.1.Value.1": "1"},
			want:   []string{"u1.medium"},
		},
		"the constant filters match every type": {
			params: map[string]string{
				"Filter.1.Name": "current-generation", "Filter.1.Value.1": "true",
				"Filter.2.Name": "bare-metal", "Filter.2.Value.1": "false",
				"Filter.3.Name": "hypervisor", "Filter.3.Value.1": "nitro",
				"Filter.4.Name": "hibernation-supported", "Filter.4.Value.1": "false",
				"Filter.5.Name": "supported-root-device-type", "Filter.5.Value.1": "ebs",
				"Filter.6.Name": "supported-virtualization-type", "Filter.6.Value.1": "hvm",
				"Filter.7.Name": "supported-usage-class", "Filter.7.Value.1": "on-demand",
				"Filter.8.Name": "instance-storage-supported", "Filter.8.Value.1": "false",
				"Filter.9.Name": "supported-boot-mode", "Filter.9.Value.1": "uefi",
			},
			want: catalogNames("a2.small", "u1.medium"),
		},
		"a filter contradicting a constant matches nothing": {
			params: map[string]string{"Filter.1.Name": "supported-usage-class", "Filter.1.Value.1": "spot"},
			want:   nil,
		},
		"a documented filter on something Koala's types lack matches nothing": {
			params: map[string]string{"Filter.1.Name": "instance-storage-info.disk.count", "Filter.1.Value.1": "*"},
			want:   nil,
		},
		"names and filters combine": {
			params: map[string]string{
				"InstanceType.1": "t3.micro", "InstanceType.2": "m5.large",
				"Filter.1.Name": "burstable-performance-supported", "Filter.1.Value.1": "false",
			},
			want: []string{"m5.large"},
		},
		"IncludeUnsupportedInRegion is accepted and changes nothing in the list": {
			params: map[string]string{"IncludeUnsupportedInRegion": "true", "InstanceType.1": "t3.nano"},
			want:   []string{"t3.nano"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := mustCall(t, cluster(adminMedium, armSmall), tc.params).names()
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDescribeInstanceTypesMarksTypesSupportedWhenAskedToIncludeUnsupported(t *testing.T) {
	d := mustCall(t, cluster(), map[string]string{"IncludeUnsupportedInRegion": "true", "InstanceType.1": "t3.nano"})
	if got := d.get("instanceTypeSet/item/supportedInRegion"); !reflect.DeepEqual(got, []string{"true"}) {
		t.Errorf("supportedInRegion = %q", got)
	}
}

func TestDescribeInstanceTypesAnswersEveryTypeOfTheCatalogByName(t *testing.T) {
	// Terraform's aws_instance describes the instance's type on every refresh and
	// fails if that call fails.
	for _, name := range catalogNames() {
		d := mustCall(t, cluster(), map[string]string{"InstanceType.1": name})
		if got := d.get("instanceTypeSet/item/burstablePerformanceSupported"); len(got) != 1 {
			t.Errorf("%s: burstablePerformanceSupported = %q", name, got)
		}
	}
}

func TestDescribeInstanceTypesAnswersAnEmptySetWhenNothingMatches(t *testing.T) {
	out, err := call(t, cluster(), map[string]string{"Filter.1.Name": "instance-type", "Filter.1.Value.1": "nope.*"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("<instanceTypeSet></instanceTypeSet>")) {
		t.Errorf("an empty result has no empty instanceTypeSet:\n%s", out)
	}
}

func TestDescribeInstanceTypesRefuses(t *testing.T) {
	cases := map[string]struct {
		params  map[string]string
		code    string
		message string
	}{
		"an unknown name, with EC2's message": {
			params:  map[string]string{"InstanceType.1": "t3.micro", "InstanceType.2": "x9.huge"},
			code:    protocol.CodeInvalidInstanceType,
			message: "The following supplied instance types do not exist: [x9.huge]",
		},
		"several unknown names, listed in request order": {
			params:  map[string]string{"InstanceType.1": "zz.large", "InstanceType.2": "t3.micro", "InstanceType.3": "aa.small"},
			code:    protocol.CodeInvalidInstanceType,
			message: "The following supplied instance types do not exist: [zz.large, aa.small]",
		},
		"an unknown filter": {
			params: map[string]string{"Filter.1.Name": "instance-family", "Filter.1.Value.1": "t3"},
			code:   protocol.CodeInvalidParameterValue,
		},
		"a tag filter, as instance types have no tags": {
			params: map[string]string{"Filter.1.Name": "tag:Name", "Filter.1.Value.1": "x"},
			code:   protocol.CodeInvalidParameterValue,
		},
		"MaxResults below 5": {
			params: map[string]string{"MaxResults": "4"},
			code:   protocol.CodeInvalidParameterValue,
		},
		"MaxResults above 100": {
			params: map[string]string{"MaxResults": "101"},
			code:   protocol.CodeInvalidParameterValue,
		},
		"a NextToken the server never issued": {
			params: map[string]string{"NextToken": "bogus"},
			code:   protocol.CodeInvalidPaginationToken,
		},
		"an unknown parameter": {
			params: map[string]string{"InstanceTypes.1": "t3.micro"},
			code:   protocol.CodeUnknownParameter,
		},
		"DryRun, which would have succeeded": {
			params: map[string]string{"DryRun": "true"},
			code:   protocol.CodeDryRunOperation,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := call(t, cluster(), tc.params)
			if err == nil {
				t.Fatal("no error")
			}
			if got := codeOf(err); got != tc.code {
				t.Errorf("code = %s, want %s (%v)", got, tc.code, err)
			}
			if e, _ := protocol.AsError(err); tc.message != "" && e.Message != tc.message {
				t.Errorf("message = %q, want %q", e.Message, tc.message)
			}
		})
	}
}

func TestDescribeInstanceTypesPassesStoreFailuresOnAsInternal(t *testing.T) {
	_, err := call(t, &fakeStore{err: errors.New("cache not synced")}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	if _, ok := protocol.AsError(err); ok {
		t.Errorf("a store failure became an EC2 error: %v", err)
	}
}

func TestDescribeInstanceTypesPaginatesToTheEnd(t *testing.T) {
	s := cluster(adminMedium)
	params := map[string]string{"MaxResults": "5", "Filter.1.Name": "current-generation", "Filter.1.Value.1": "true"}
	var got []string
	for page := 1; ; page++ {
		if page > 20 {
			t.Fatal("pagination does not end")
		}
		d := mustCall(t, s, params)
		names := d.names()
		if len(names) > 5 {
			t.Fatalf("page %d has %d items", page, len(names))
		}
		got = append(got, names...)
		next := d.get("nextToken")
		if len(next) == 0 {
			if len(names) == 0 {
				t.Errorf("page %d is empty: the previous page should have had no token", page)
			}
			break
		}
		params["NextToken"] = next[0]
	}
	if want := catalogNames("u1.medium"); !reflect.DeepEqual(got, want) {
		t.Errorf("pages gave %v, want %v", got, want)
	}

	// A token only continues the request it came from.
	d := mustCall(t, s, map[string]string{"MaxResults": "5"})
	_, err := call(t, s, map[string]string{"MaxResults": "5", "NextToken": d.get("nextToken")[0],
		"Filter.1.Name": "instance-type", "Filter.1.Value.1": "m5.*"})
	if code := codeOf(err); code != protocol.CodeInvalidPaginationToken {
		t.Errorf("a token used with other filters: %s", code)
	}
}

func TestViewDerivesTopologyAndLimitsFromVCPUs(t *testing.T) {
	cases := map[string]struct {
		vcpus                int32
		cores, threads, nics int32
	}{
		"one vCPU is one core of one thread":          {1, 1, 1, 3},
		"two vCPUs are one core of two threads":       {2, 1, 2, 3},
		"an odd count has one thread per core":        {3, 3, 1, 4},
		"eight vCPUs still have four interfaces":      {8, 4, 2, 4},
		"more than eight vCPUs have eight interfaces": {16, 8, 2, 8},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			it := &instancetypev1beta1.VirtualMachineClusterInstancetype{
				ObjectMeta: metav1.ObjectMeta{Name: "x.y"},
				Spec: instancetypev1beta1.VirtualMachineInstancetypeSpec{
					CPU:    instancetypev1beta1.CPUInstancetype{Guest: uint32(tc.vcpus)},
					Memory: instancetypev1beta1.MemoryInstancetype{Guest: resource.MustParse("1Gi")},
				},
			}
			x := view(catalog.Describe(it))
			got := fmt.Sprint(x.VCPUInfo.DefaultCores, x.VCPUInfo.DefaultThreadsPerCore, x.NetworkInfo.MaximumNetworkInterfaces,
				x.NetworkInfo.NetworkCards[0].MaximumNetworkInterfaces)
			want := fmt.Sprint(tc.cores, tc.threads, tc.nics, tc.nics)
			if got != want {
				t.Errorf("cores threads nics card-nics = %s, want %s", got, want)
			}
		})
	}
}
