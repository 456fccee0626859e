//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// newAccount applies an Account (with the YAML quotas given, may be empty) and an
// AccessKey with kubectl, as a platform team onboards a team, and returns the
// environment of a shell that uses the new key.
func (s *stack) newAccount(t *testing.T, quotas string) (name string, env []string) {
	t.Helper()
	name = uniqueName("team")
	manifest := "apiVersion: cloud.koala.dev/v1alpha1\nkind: Account\nmetadata:\n  name: " + name + "\nspec:\n  displayName: e2e\n"
	if quotas != "" {
		manifest += "  quotas: " + quotas + "\n"
	}
	manifest += "---\napiVersion: cloud.koala.dev/v1alpha1\nkind: AccessKey\nmetadata:\n  name: " + name + "-key\nspec:\n  account: " + name + "\n"
	if r := s.run(t, manifest, "kubectl", "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("kubectl apply of the account: %v", r)
	}
	var keyID, secret string
	deadline := time.Now().Add(time.Minute)
	for keyID == "" || secret == "" {
		r := s.run(t, "", "kubectl", "get", "secret", "-n", name, "accesskey-"+name+"-key", "-o", "json")
		if r.code == 0 {
			var sec struct {
				Data map[string]string `json:"data"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &sec); err != nil {
				t.Fatal(err)
			}
			id, _ := base64.StdEncoding.DecodeString(sec.Data["AWS_ACCESS_KEY_ID"])
			key, _ := base64.StdEncoding.DecodeString(sec.Data["AWS_SECRET_ACCESS_KEY"])
			keyID, secret = string(id), string(key)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access key's Secret never appeared: %v", r)
		}
		if keyID == "" {
			time.Sleep(500 * time.Millisecond)
		}
	}
	env = slices.DeleteFunc(slices.Clone(s.env), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") || strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=")
	})
	env = append(env, "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret)
	// The endpoint accepts the key once its cache has it: wait for the first call.
	for {
		r := runIn(t, s.dir, env, "", "aws", "ec2", "describe-regions")
		if r.code == 0 {
			return name, env
		}
		if time.Now().After(deadline) {
			t.Fatalf("the endpoint never accepted the new key: %v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// throttleScript floods DescribeRegions: without retries some calls must be throttled
// (RequestLimitExceeded), with boto3's standard retry mode every call must get through.
const throttleScript = `
import boto3, botocore.config, botocore.exceptions, concurrent.futures, sys, threading
def client(attempts):
    return boto3.client("ec2", config=botocore.config.Config(retries={"mode": "standard", "max_attempts": attempts}))
raw = client(1)
retrying = client(20)
dry = threading.Event()
# From 8 threads at once: the bucket (burst 100, 20 a second) runs dry however slowly
# one call is answered on a loaded machine.
def call(_):
    try:
        raw.describe_regions()
        return 0
    except botocore.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "RequestLimitExceeded" or e.response["ResponseMetadata"]["HTTPStatusCode"] != 503:
            raise
        dry.set()
        return 1
def retried(_):
    dry.wait(60)
    return retrying.describe_regions()["ResponseMetadata"]["RetryAttempts"]
# The calls with standard retries are made once the flood has drained the bucket, and
# while it keeps it dry: made after it, they would find the bucket refilled whenever
# calls are slower than its refill. They are few: every retry takes from the client's
# retry quota.
with concurrent.futures.ThreadPoolExecutor(max_workers=8) as flood, concurrent.futures.ThreadPoolExecutor(max_workers=3) as others:
    throttled = flood.map(call, range(300))
    retries = others.map(retried, range(6))
    throttled, retries = sum(throttled), sum(retries)
if throttled == 0:
    sys.exit("300 calls in a burst were never throttled")
if retries == 0:
    sys.exit("no call needed a retry: the test did not reach the limit")
print("throttled without retries:", throttled, "- retries needed with standard mode:", retries)
`

func TestBoto3StandardRetriesGetThroughTheThrottleOfAKey(t *testing.T) {
	requireTools(t, "python3", "kubectl", "aws")
	t.Parallel()
	s := suite.shared
	// A key of its own: the throttle is per key, and other tests share the stack's key.
	_, env := s.newAccount(t, "")
	r := runIn(t, s.dir, env, "", "python3", "-c", throttleScript)
	if r.code != 0 {
		t.Fatalf("boto3 against the throttle: %v", r)
	}
	t.Log(strings.TrimSpace(r.stdout))
}

func TestQuotasAreMetThroughTheAWSCLIAndThroughKubectl(t *testing.T) {
	requireTools(t, "kubectl", "aws")
	t.Parallel()
	s := suite.shared
	name, env := s.newAccount(t, "{instances: 1}")
	image := s.imageID(t)
	aws := func(args ...string) result {
		return runIn(t, s.dir, env, "", "aws", append([]string{"ec2"}, args...)...)
	}

	r := aws("run-instances", "--image-id", image, "--instance-type", "t3.micro", "--count", "2")
	if r.code == 0 || !strings.Contains(r.stderr, "InstanceLimitExceeded") {
		t.Fatalf("two instances with a quota of one: %v", r)
	}
	r = aws("run-instances", "--image-id", image, "--instance-type", "t3.micro", "--count", "1", "--query", "Instances[0].InstanceId", "--output", "text")
	if r.code != 0 {
		t.Fatalf("one instance within the quota: %v", r)
	}

	// kubectl users meet the same limit: the instance is accepted but held back, and
	// both kubectl and the AWS CLI say why.
	manifest := "apiVersion: cloud.koala.dev/v1alpha1\nkind: Instance\nmetadata:\n  name: over\n  namespace: " + name +
		"\nspec:\n  imageId: " + image + "\n  instanceType: t3.micro\n"
	if r := s.run(t, manifest, "kubectl", "apply", "-f", "-"); r.code != 0 {
		t.Fatalf("kubectl apply: %v", r)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		r := s.run(t, "", "kubectl", "get", "instance", "over", "-n", name, "-o", `jsonpath={.status.state} {.status.conditions[?(@.type=="Ready")].reason}`)
		if r.code == 0 && r.stdout == "pending InstanceLimitExceeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance over the quota is not held back: %v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// kubectl reads the API server; the endpoint answers from its cache, which follows
	// a moment later: ask until it shows the reason too.
	deadline = time.Now().Add(time.Minute)
	for {
		r = aws("describe-instances", "--filters", "Name=instance-state-name,Values=pending", "--query", "Reservations[].Instances[].StateReason.Code", "--output", "text")
		if r.code == 0 && strings.Contains(r.stdout, "Client.InstanceLimitExceeded") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the AWS CLI does not show why the instance waits: %v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestEveryChangeMadeWithTheAWSCLIIsInTheAuditLog(t *testing.T) {
	requireTools(t, "aws")
	t.Parallel()
	s := suite.shared
	tag := uniqueName("audited")
	userData := "#!/bin/sh\necho " + tag + "-secret\n"
	id := s.awsText(t, "run-instances", "--image-id", s.imageID(t), "--instance-type", "t3.micro", "--user-data", userData,
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value="+tag+"}]", "--query", "Instances[0].InstanceId")
	raw, err := os.ReadFile(filepath.Join(s.dataDir(), "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, id) {
			continue
		}
		var rec struct {
			Account, Action, Result, RequestID string
			Resources                          []string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.Action == "RunInstances" && rec.Account == accountID && rec.Result == "OK" && rec.RequestID != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no RunInstances line for %s in the audit log:\n%s", id, raw)
	}
	if strings.Contains(string(raw), tag+"-secret") {
		t.Fatal("the user data reached the audit log")
	}
}
