//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The account, region and image the local stack comes with (README).
const (
	accountID    = "123456789012"
	region       = "koala-1"
	imageName    = "ubuntu-24.04-server-amd64"
	instanceIDRe = `i-[0-9a-f]{17}`
)

var (
	instanceIDPattern    = regexp.MustCompile(`^` + instanceIDRe + `$`)
	reservationIDPattern = regexp.MustCompile(`^r-[0-9a-f]{17}$`)
	ipv4Pattern          = regexp.MustCompile(`^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$`)
)

// uniqueName returns a name no other test (or earlier run) uses.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// awsJSON runs `aws ec2 <args> --output json` and decodes its output into v.
func (s *stack) awsJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := s.mustRun(t, "aws", append(append([]string{"ec2"}, args...), "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("aws ec2 %s: decoding its output: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// awsText runs `aws ec2 <args> --output text` and returns its trimmed output.
func (s *stack) awsText(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(s.mustRun(t, "aws", append(append([]string{"ec2"}, args...), "--output", "text")...))
}

// imageID is the ID of the image the stack ships, found as the README finds it.
func (s *stack) imageID(t *testing.T) string {
	t.Helper()
	id := s.awsText(t, "describe-images", "--owners", "amazon", "--filters", "Name=name,Values="+imageName, "--query", "Images[0].ImageId")
	if !strings.HasPrefix(id, "ami-") {
		t.Fatalf("describe-images found no %s: %q", imageName, id)
	}
	return id
}

// waitForState polls describe-instances every second (the AWS CLI's waiters poll every
// 15 s) until every instance in ids is in state. An instance the endpoint does not know
// yet (one made with kubectl, whose ID kubectl showed a moment before the endpoint's
// cache had it) is waited for too, as the CLI's own waiter does.
func (s *stack) waitForState(t *testing.T, state string, ids ...string) {
	t.Helper()
	args := append([]string{"ec2", "describe-instances", "--query", "Reservations[].Instances[].[InstanceId,State.Name]", "--output", "text", "--instance-ids"}, ids...)
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for {
		r := s.run(t, "", "aws", args...)
		switch {
		case r.code == 0:
			last = strings.TrimSpace(r.stdout)
		case strings.Contains(r.stderr, "InvalidInstanceID.NotFound"):
			last = r.stderr
		default:
			t.Fatalf("aws %s failed: %v", strings.Join(args, " "), r)
		}
		states := map[string]string{}
		for _, line := range strings.Split(last, "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				states[f[0]] = f[1]
			}
		}
		done := true
		for _, id := range ids {
			done = done && states[id] == state
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances %v did not all become %s; last describe-instances:\n%s", ids, state, last)
		}
		time.Sleep(time.Second)
	}
}

// cliInstance is an instance as `aws ec2 describe-instances --output json` prints it,
// with the members clients read.
type cliInstance struct {
	InstanceId string
	ImageId    string
	State      struct {
		Code int
		Name string
	}
	PrivateIpAddress   string
	PrivateDnsName     string
	SubnetId           string
	VpcId              string
	InstanceType       string
	LaunchTime         string
	Placement          struct{ AvailabilityZone, Tenancy string }
	Tags               []cliTag
	KeyName            string
	AmiLaunchIndex     *int
	Architecture       string
	RootDeviceName     string
	RootDeviceType     string
	VirtualizationType string
	Hypervisor         string
	ClientToken        string
	SecurityGroups     *[]json.RawMessage
	ProductCodes       *[]json.RawMessage
	Monitoring         struct{ State string }
	CpuOptions         *struct{ CoreCount, ThreadsPerCore int }
	MetadataOptions    *struct {
		State                   string
		HttpTokens              string
		HttpEndpoint            string
		HttpPutResponseHopLimit int
	}
}

type cliTag struct{ Key, Value string }

type cliReservation struct {
	ReservationId string
	OwnerId       string
	Instances     []cliInstance
}

type cliDescribeInstances struct {
	Reservations []cliReservation
	NextToken    string
}

// instances lists the instances of every reservation.
func (d cliDescribeInstances) instances() []cliInstance {
	var out []cliInstance
	for _, r := range d.Reservations {
		out = append(out, r.Instances...)
	}
	return out
}

// ids lists the instance IDs, sorted.
func (d cliDescribeInstances) ids() []string {
	var out []string
	for _, i := range d.instances() {
		out = append(out, i.InstanceId)
	}
	sort.Strings(out)
	return out
}

// tagMap turns a tag list into a map.
func tagMap(tags []cliTag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
