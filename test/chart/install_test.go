package chart_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"
	multinetpolv1beta1 "github.com/k8snetworkplumbingwg/multi-networkpolicy/pkg/apis/k8s.cni.cncf.io/v1beta1"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/netobjects"
	"github.com/koala-dev/koala/internal/operator"
	"github.com/koala-dev/koala/internal/testgen"
)

const (
	region = "test-1"
	// timeout bounds every wait for something the components converge on.
	timeout = 30 * time.Second
	poll    = 50 * time.Millisecond
	// fieldManager applies the chart, as helm would.
	fieldManager = "helm"
	// platformNamespace holds the platform's public image.
	platformNamespace = "platform-images"
)

// The values of the two chart versions the test installs one after the other. The
// second changes values as an operator of the platform would on an upgrade.
var (
	valuesV1 = []string{
		"--set", "region=" + region,
		// Quick re-checks, so that the test sees the operator notice new CRDs.
		"--set", "operator.prerequisitesInterval=200ms",
	}
	valuesV2 = append(append([]string{}, valuesV1...),
		"--set", "ec2.replicas=5",
		"--set", "ec2.ingress.enabled=true",
		"--set", "ec2.ingress.host=ec2.test-1.example.com",
		"--set", "operator.logLevel=debug",
		// Terminated instances disappear quickly, so that the test sees the operator
		// delete one with its own rights.
		"--set", "operator.terminatedRetention=2s",
		"--set", "networks.providerNetworks[0].name=physnet1,networks.providerNetworks[0].type=bridge,networks.providerNetworks[0].bridge=br-ex",
	)
)

func TestTheInstalledChartRunsAnInstanceWithItsOwnRBACAndSurvivesAnUpgrade(t *testing.T) {
	ctrl.SetLogger(logr.Discard())
	ctx := context.Background()
	c := startCluster(t)
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	v1 := mustRender(t, valuesV1...)
	var (
		op         *runningOperator
		ep         *runningEndpoint
		acct       *account
		instanceID string
		before     map[string]snapshot
		v2         *rendering
	)
	defer func() {
		if ep != nil {
			ep.stop()
		}
		if op != nil {
			op.cancel()
			<-op.done
		}
	}()

	steps := []struct {
		name string
		run  func(t *testing.T, g *WithT)
	}{
		{"the chart installs into a namespace that enforces the restricted Pod Security Standard, without a warning", func(t *testing.T, g *WithT) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: releaseNamespace, Labels: map[string]string{
				"pod-security.kubernetes.io/enforce": "restricted",
				"pod-security.kubernetes.io/warn":    "restricted",
			}}}
			g.Expect(c.admin.Create(ctx, ns)).To(Succeed())
			c.install(ctx, t, v1, nil)
			g.Expect(c.warnings.take()).To(BeEmpty(), "the API server warned while the chart was applied")
		}},
		{"every pod of the chart is admitted by the restricted profile, which refuses a pod that escalates", func(t *testing.T, g *WithT) {
			for _, d := range v1.ofKind("Deployment") {
				pod := podFromTemplate(t, d)
				g.Expect(c.admin.Create(ctx, pod, client.DryRunAll)).To(Succeed(), "the pod of %s", d.GetName())
			}
			bad := podFromTemplate(t, v1.get(t, "Deployment", "koala-ec2"))
			escalate := true
			bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = &escalate
			err := c.admin.Create(ctx, bad, client.DryRunAll)
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "Pod Security admission must refuse an escalating pod: %v", err)
			g.Expect(err.Error()).To(ContainSubstring("restricted"))
		}},
		{"the operator waits for the CRDs it needs, says which are missing, and stays alive", func(t *testing.T, g *WithT) {
			disc, err := discovery.NewDiscoveryClientForConfig(c.cfg)
			g.Expect(err).NotTo(HaveOccurred())
			missing, err := operator.MissingPrerequisites(disc, operator.DefaultPrerequisites())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(missing).NotTo(BeEmpty(), "Multus' CRD should be missing")
			op = c.startOperator(t, v1)
			g.Eventually(func(g Gomega) {
				cond := c.statusCondition(ctx, g)
				g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(cond.Reason).To(Equal(operator.ReasonPrerequisitesMissing))
				for _, m := range missing {
					g.Expect(cond.Message).To(ContainSubstring(m.String()))
					g.Expect(cond.Message).To(ContainSubstring(m.Component))
				}
				events := c.statusEvents(ctx, g, operator.ReasonPrerequisitesMissing)
				g.Expect(events).NotTo(BeEmpty(), "no event tells what is missing")
				g.Expect(events[0].Type).To(Equal(corev1.EventTypeWarning))
				g.Expect(events[0].Note).To(ContainSubstring("Multus"))
				code, body, err := op.probe("/readyz")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(code).To(Equal(http.StatusServiceUnavailable))
				g.Expect(body).To(ContainSubstring("Multus"))
			}, timeout, poll).Should(Succeed())
			code, _, err := op.probe("/healthz")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(code).To(Equal(http.StatusOK), "a waiting operator must stay live, or the kubelet restarts it in a loop")
			g.Consistently(op.done, 2*time.Second, poll).ShouldNot(Receive(), "the operator exited while waiting")

			for _, m := range missing {
				g.Expect(m.Component).To(HavePrefix("Multus"), "only Multus' CRDs were withheld")
			}
			// One CRD at a time, as two projects install them: with attachments served
			// and multi-network policies not yet, the operator must still wait (it
			// once started, and its security group controller stayed idle).
			g.Expect(c.withheld).To(HaveLen(2))
			for i, crd := range c.withheld {
				g.Expect(c.admin.Create(ctx, crd.DeepCopy())).To(Succeed())
				if i == len(c.withheld)-1 {
					break
				}
				still := crd.Spec.Names.Plural + "." + crd.Spec.Group
				g.Eventually(func(g Gomega) {
					stillMissing, err := operator.MissingPrerequisites(disc, operator.DefaultPrerequisites())
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(stillMissing).To(HaveLen(len(missing)-1), "the API server does not serve %s yet", still)
				}, timeout, poll).Should(Succeed())
				g.Eventually(func(g Gomega) {
					cond := c.statusCondition(ctx, g)
					g.Expect(cond.Status).To(Equal(metav1.ConditionFalse), "the operator started with %s served but not the rest", still)
					g.Expect(cond.Message).NotTo(ContainSubstring(still))
				}, timeout, poll).Should(Succeed())
				g.Consistently(func(g Gomega) {
					g.Expect(c.statusCondition(ctx, g).Status).To(Equal(metav1.ConditionFalse))
				}, time.Second, poll).Should(Succeed(), "the operator started with %s served but not the rest", still)
			}
			g.Eventually(func(g Gomega) {
				cond := c.statusCondition(ctx, g)
				g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(cond.Reason).To(Equal(operator.ReasonPrerequisitesFound))
				g.Expect(c.statusEvents(ctx, g, operator.ReasonPrerequisitesFound)).NotTo(BeEmpty())
				lease := &coordinationv1.Lease{}
				g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: operator.LeaderElectionID}, lease)).To(Succeed())
				g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
				code, _, err := op.probe("/readyz")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(code).To(Equal(http.StatusOK))
			}, timeout, poll).Should(Succeed())
		}},
		{"an instance launched through the EC2 API runs, reboots and stops", func(t *testing.T, g *WithT) {
			c.startSimulator(simCtx, t)
			ep = c.startEndpoint(t, v1)
			g.Expect(c.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformNamespace}})).To(Succeed())
			img := testgen.Image("ubuntu", platformNamespace, testgen.Public())
			img.Spec.Name = "ubuntu-24.04-server-amd64"
			g.Expect(c.admin.Create(ctx, img)).To(Succeed())
			// The platform team's provider network: the account gets a default VPC on it.
			g.Expect(c.admin.Create(ctx, testgen.ProviderNetwork("physnet"))).To(Succeed())
			acct = c.createAccount(ctx, t, ep.srv.URL)

			var imageID string
			g.Eventually(func(g Gomega) {
				out, err := acct.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(out.Images).To(HaveLen(1))
				g.Expect(out.Images[0].State).To(Equal(types.ImageStateAvailable))
				imageID = aws.ToString(out.Images[0].ImageId)
			}, timeout, poll).Should(Succeed())
			types_, err := acct.ec2.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceTypeT3Micro}})
			g.Expect(err).NotTo(HaveOccurred(), "the chart's catalog has t3.micro")
			g.Expect(types_.InstanceTypes).To(HaveLen(1))
			kp, err := acct.ec2.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("ops")})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = acct.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(kp.KeyPairId)},
				Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}})
			g.Expect(err).NotTo(HaveOccurred())

			run, err := acct.ec2.RunInstances(ctx, &ec2.RunInstancesInput{
				ImageId: aws.String(imageID), InstanceType: types.InstanceTypeT3Micro, KeyName: aws.String("ops"),
				MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
				TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
					Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("web")}}}},
			})
			g.Expect(err).NotTo(HaveOccurred())
			instanceID = aws.ToString(run.Instances[0].InstanceId)
			waitFor(ctx, g, acct, types.InstanceStateNameRunning, instanceID)
			launched := acct.instance(ctx, g, instanceID)
			g.Expect(aws.ToString(launched.Placement.AvailabilityZone)).To(HavePrefix(region))
			// On the default VPC's default subnet of its zone, with an address of it.
			g.Expect(aws.ToString(launched.SubnetId)).To(HavePrefix("subnet-"))
			g.Expect(aws.ToString(launched.PrivateIpAddress)).To(HavePrefix("172.31."))
			// SSH opened in the instance's group reaches both of the group's policies (the
			// pod network's and the subnets'), rewritten by the operator with the chart's
			// rights.
			g.Expect(launched.SecurityGroups).To(HaveLen(1))
			groupID := aws.ToString(launched.SecurityGroups[0].GroupId)
			_, err = acct.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
			g.Expect(err).NotTo(HaveOccurred())
			g.Eventually(func(g Gomega) {
				key := client.ObjectKey{Namespace: acct.namespace, Name: netobjects.PolicyName(groupID)}
				np, mnp := &networkingv1.NetworkPolicy{}, &multinetpolv1beta1.MultiNetworkPolicy{}
				g.Expect(c.admin.Get(ctx, key, np)).To(Succeed())
				g.Expect(c.admin.Get(ctx, key, mnp)).To(Succeed())
				var podPorts, subnetPorts []int32
				for _, r := range np.Spec.Ingress {
					for _, p := range r.Ports {
						if p.Port != nil {
							podPorts = append(podPorts, p.Port.IntVal)
						}
					}
				}
				for _, r := range mnp.Spec.Ingress {
					for _, p := range r.Ports {
						if p.Port != nil {
							subnetPorts = append(subnetPorts, p.Port.IntVal)
						}
					}
				}
				g.Expect(podPorts).To(ContainElement(int32(22)), "the NetworkPolicy does not open SSH")
				g.Expect(subnetPorts).To(ContainElement(int32(22)), "the MultiNetworkPolicy does not open SSH")
			}, timeout, poll).Should(Succeed())
			_, err = acct.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{instanceID},
				Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = acct.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{instanceID}})
			g.Expect(err).NotTo(HaveOccurred())
			// The instance stays running through a reboot: wait until the operator has
			// acted on it (replaced the guest), or the stop below may overtake it and the
			// grants a reboot uses go unused.
			g.Eventually(func(g Gomega) {
				inst := &koalav1.Instance{}
				g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: acct.namespace, Name: instanceID}, inst)).To(Succeed())
				g.Expect(inst.Status.LastRebootRequest).NotTo(BeEmpty())
			}, timeout, poll).Should(Succeed())
			waitFor(ctx, g, acct, types.InstanceStateNameRunning, instanceID)
			_, err = acct.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{instanceID}})
			g.Expect(err).NotTo(HaveOccurred())
			waitFor(ctx, g, acct, types.InstanceStateNameStopped, instanceID)
		}},
		{"upgrading to the next chart version with changed values deletes and resets nothing", func(t *testing.T, g *WithT) {
			// The old operator and endpoint stop (a rollout replaces them); nothing
			// writes Koala objects until the new ones start.
			ep.stop()
			ep = nil
			op.stop(t)
			op = nil
			before = c.koalaObjects(ctx, t)
			g.Expect(before).To(HaveKey(ContainSubstring("Instance ")))
			chartBefore := c.chartObjects(ctx, t, v1)

			var err error
			v2, err = render(t, bumpedChart(t, "0.2.0"), valuesV2...)
			g.Expect(err).NotTo(HaveOccurred())
			pruned := c.install(ctx, t, v2, v1)
			g.Expect(pruned).To(BeEmpty(), "the upgrade deleted objects of the previous version")
			g.Expect(c.warnings.take()).To(BeEmpty())

			chartAfter := c.chartObjects(ctx, t, v1)
			for k, b := range chartBefore {
				g.Expect(chartAfter).To(HaveKey(k))
				g.Expect(chartAfter[k].UID).To(Equal(b.UID), "%s was replaced", k)
			}
			status := chartAfter["v1/ConfigMap/"+releaseNamespace+"/"+operator.DefaultStatusConfigMap]
			g.Expect(status.Data).To(Equal(chartBefore["v1/ConfigMap/"+releaseNamespace+"/"+operator.DefaultStatusConfigMap].Data),
				"the upgrade reset what the operator wrote into its status ConfigMap")
			g.Expect(status.Data).To(ContainSubstring(operator.ReasonPrerequisitesFound))
			ec2Deploy := &unstructured.Unstructured{}
			ec2Deploy.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
			g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "koala-ec2"}, ec2Deploy)).To(Succeed())
			g.Expect(ec2Deploy.GetLabels()).To(HaveKeyWithValue("helm.sh/chart", "koala-0.2.0"))
			replicas, _, _ := unstructured.NestedInt64(ec2Deploy.Object, "spec", "replicas")
			g.Expect(replicas).To(Equal(int64(5)))
			ing := &unstructured.Unstructured{}
			ing.SetGroupVersionKind(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"})
			g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "koala-ec2"}, ing)).To(Succeed())

			after := c.koalaObjects(ctx, t)
			g.Expect(after).To(Equal(before), "the upgrade changed Koala objects or their status")
		}},
		{"the upgraded operator and endpoint take over and the instance lives on to its end", func(t *testing.T, g *WithT) {
			op = c.startOperator(t, v2)
			ep = c.startEndpoint(t, v2)
			acct.ec2 = ec2.New(acct.ec2.Options(), func(o *ec2.Options) { o.BaseEndpoint = aws.String(ep.srv.URL) })
			g.Eventually(func(g Gomega) {
				cond := c.statusCondition(ctx, g)
				g.Expect(cond.Status).To(Equal(metav1.ConditionTrue))
				code, _, err := op.probe("/readyz")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(code).To(Equal(http.StatusOK))
			}, timeout, poll).Should(Succeed())
			var stopped types.Instance
			g.Eventually(func(g Gomega) { stopped = acct.instance(ctx, g, instanceID) }, timeout, poll).Should(Succeed())
			g.Expect(stopped.State.Name).To(Equal(types.InstanceStateNameStopped))
			g.Expect(tagValue(stopped.Tags, "env")).To(Equal("prod"))

			_, err := acct.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{instanceID}})
			g.Expect(err).NotTo(HaveOccurred())
			waitFor(ctx, g, acct, types.InstanceStateNameRunning, instanceID)
			_, err = acct.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{instanceID}})
			g.Expect(err).NotTo(HaveOccurred())
			waitFor(ctx, g, acct, types.InstanceStateNameTerminated, instanceID)
			_, err = acct.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("ops")})
			g.Expect(err).NotTo(HaveOccurred())
			// The upgraded retention (2s): the operator deletes the terminated instance.
			g.Eventually(func() bool {
				var list koalav1.InstanceList
				g.Expect(c.admin.List(ctx, &list, client.InNamespace(acct.namespace))).To(Succeed())
				return len(list.Items) == 0
			}, timeout, poll).Should(BeTrue(), "the terminated instance was never removed")
		}},
		{"the platform team deletes the image, the key and the account, and the operator cleans up after them", func(t *testing.T, g *WithT) {
			key := &koalav1.AccessKey{}
			g.Expect(c.admin.Get(ctx, client.ObjectKey{Name: "team-a-ci"}, key)).To(Succeed())
			secret := client.ObjectKey{Namespace: key.Status.SecretRef.Namespace, Name: key.Status.SecretRef.Name}
			img := &koalav1.Image{}
			g.Expect(c.admin.Get(ctx, client.ObjectKey{Namespace: platformNamespace, Name: "ubuntu"}, img)).To(Succeed())
			acctObj := &koalav1.Account{}
			g.Expect(c.admin.Get(ctx, client.ObjectKey{Name: "team-a"}, acctObj)).To(Succeed())
			for _, obj := range []client.Object{key, img, acctObj} {
				g.Expect(c.admin.Delete(ctx, obj)).To(Succeed())
			}
			g.Eventually(func(g Gomega) {
				for _, obj := range []client.Object{key, img, acctObj, &corev1.Secret{}} {
					k := client.ObjectKeyFromObject(obj)
					if _, ok := obj.(*corev1.Secret); ok {
						k = secret
					}
					g.Expect(apierrors.IsNotFound(c.admin.Get(ctx, k, obj))).To(BeTrue(), "%T %s is still there", obj, k)
				}
				// envtest runs no namespace controller: the namespace stays terminating.
				ns := &corev1.Namespace{}
				g.Expect(c.admin.Get(ctx, client.ObjectKey{Name: acct.namespace}, ns)).To(Succeed())
				g.Expect(ns.DeletionTimestamp).NotTo(BeNil(), "the account's namespace is not being deleted")
			}, timeout, poll).Should(Succeed())
		}},
		{"the service accounts were never refused and use what the chart grants them", func(t *testing.T, g *WithT) {
			ep.stop()
			ep = nil
			op.stop(t)
			op = nil
			checkAudit(t, c.auditLog, v2)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, NewWithT(t)) }) {
			return // later steps build on this one
		}
	}
}

func tagValue(tags []types.Tag, k string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == k {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// podFromTemplate is the pod a Deployment's ReplicaSet would create.
func podFromTemplate(t *testing.T, d *unstructured.Unstructured) *corev1.Pod {
	t.Helper()
	tmpl, _, _ := unstructured.NestedMap(d.Object, "spec", "template")
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, pod); err != nil {
		t.Fatal(err)
	}
	pod.Name, pod.Namespace = d.GetName()+"-pss-check", releaseNamespace
	return pod
}
