package endpoint_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
)

func tags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

// tagsOf is DescribeTags' answer for one resource: key -> value, and the resource type.
func (a *account) tagsOf(g Gomega, id string) (map[string]string, types.ResourceType) {
	out, err := a.EC2.DescribeTags(a.ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("resource-id", id)}})
	g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
	m := map[string]string{}
	var rt types.ResourceType
	for _, d := range out.Tags {
		g.ExpectWithOffset(1, aws.ToString(d.ResourceId)).To(Equal(id))
		m[aws.ToString(d.Key)] = aws.ToString(d.Value)
		rt = d.ResourceType
	}
	return m, rt
}

func TestCreateTagsAndDeleteTagsChangeInstancesOwnImagesAndKeyPairs(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	inst := a.runOne(g)
	img := a.privateImage(g, "tagged")
	kp, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("tagged")})
	g.Expect(err).NotTo(HaveOccurred())
	key := aws.ToString(kp.KeyPairId)
	all := []string{inst, img, key}

	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: all, Tags: tags("Name", "x", "env", "test", "empty", "")})
	g.Expect(err).NotTo(HaveOccurred())
	want := map[string]string{"Name": "x", "env": "test", "empty": ""}
	for id, rt := range map[string]types.ResourceType{inst: types.ResourceTypeInstance, img: types.ResourceTypeImage, key: types.ResourceTypeKeyPair} {
		got, gotType := a.tagsOf(g, id)
		g.Expect(got).To(Equal(want), "tags of %s", id)
		g.Expect(gotType).To(Equal(rt))
	}
	g.Expect(tagMap(a.describe(g, inst).Tags)).To(Equal(want))
	images, err := a.EC2.DescribeImages(a.ctx, &ec2.DescribeImagesInput{ImageIds: []string{img}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tagMap(images.Images[0].Tags)).To(Equal(want))
	keys, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyPairIds: []string{key}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tagMap(keys.KeyPairs[0].Tags)).To(Equal(want))

	// Overwrite one value; a key without a value deletes whatever its value; a key with
	// a value deletes only that value.
	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: all, Tags: tags("Name", "y")})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.DeleteTags(a.ctx, &ec2.DeleteTagsInput{Resources: all, Tags: []types.Tag{{Key: aws.String("env")}}})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.DeleteTags(a.ctx, &ec2.DeleteTagsInput{Resources: all, Tags: tags("Name", "x")})
	g.Expect(err).NotTo(HaveOccurred())
	for _, id := range all {
		got, _ := a.tagsOf(g, id)
		g.Expect(got).To(Equal(map[string]string{"Name": "y", "empty": ""}), "tags of %s", id)
	}
	_, err = a.EC2.DeleteTags(a.ctx, &ec2.DeleteTagsInput{Resources: all, Tags: tags("Name", "y")})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = a.EC2.DeleteTags(a.ctx, &ec2.DeleteTagsInput{Resources: []string{inst}})
	g.Expect(err).NotTo(HaveOccurred(), "DeleteTags without tags deletes every tag")
	got, _ := a.tagsOf(g, inst)
	g.Expect(got).To(BeEmpty())
	g.Expect(a.describe(g, inst).Tags).To(BeEmpty())
	got, _ = a.tagsOf(g, key)
	g.Expect(got).To(Equal(map[string]string{"empty": ""}))
}

func TestCreateTagsRefusesWhatItCannotTagAndChangesNothing(t *testing.T) {
	t.Parallel()
	a := newAccount(t)
	g := NewWithT(t)
	inst := a.runOne(g, withTags("Name", "keep"))
	many := make([]types.Tag, 0, 50)
	for i := 0; i < 50; i++ {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}

	cases := map[string]struct {
		resources []string
		tags      []types.Tag
		code      string
	}{
		"an instance that does not exist is InvalidInstanceID.NotFound": {
			[]string{inst, "i-0000000000000dead"}, tags("a", "b"), "InvalidInstanceID.NotFound"},
		"an image that does not exist is InvalidAMIID.NotFound": {
			[]string{"ami-0000000000000dead"}, tags("a", "b"), "InvalidAMIID.NotFound"},
		"the platform's public image is not the account's to tag": {
			[]string{publicImageID}, tags("a", "b"), "InvalidAMIID.NotFound"},
		"a key pair that does not exist is InvalidKeyPair.NotFound": {
			[]string{"key-0000000000000dead"}, tags("a", "b"), "InvalidKeyPair.NotFound"},
		"an ID of a kind that has no tags here is InvalidID": {
			[]string{"igw-0000000000000dead"}, tags("a", "b"), "InvalidID"},
		"a volume that does not exist is InvalidVolume.NotFound": {
			[]string{"vol-0000000000000dead"}, tags("a", "b"), "InvalidVolume.NotFound"},
		"a snapshot that does not exist is InvalidSnapshot.NotFound": {
			[]string{"snap-0000000000000dead"}, tags("a", "b"), "InvalidSnapshot.NotFound"},
		"a string that is no ID is InvalidID": {
			[]string{"web-server"}, tags("a", "b"), "InvalidID"},
		"more than 50 tags on a resource is TagLimitExceeded": {
			[]string{inst}, many, "TagLimitExceeded"},
		"a key with the aws: prefix is refused": {
			[]string{inst}, tags("aws:cloudformation:stack-name", "x"), "InvalidParameterValue"},
		"an empty key is refused": {
			[]string{inst}, tags("", "x"), "InvalidParameterValue"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := a.NoRetry.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: tc.resources, Tags: tc.tags})
			expectError(g, err, tc.code)
		})
	}
	got, _ := a.tagsOf(g, inst)
	g.Expect(got).To(Equal(map[string]string{"Name": "keep"}), "no refused call tagged the instance")

	_, err := a.NoRetry.DeleteTags(a.ctx, &ec2.DeleteTagsInput{Resources: []string{"i-0000000000000dead"}, Tags: tags("Name", "keep")})
	expectError(g, err, "InvalidInstanceID.NotFound")
	// Exactly 50 is allowed: one existing and 49 new.
	_, err = a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{inst}, Tags: many[:49]})
	g.Expect(err).NotTo(HaveOccurred())
	got, _ = a.tagsOf(g, inst)
	g.Expect(got).To(HaveLen(50))
}

func TestDescribeTagsFiltersRowsAndPagesThroughEachOnce(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	inst := a.runOne(g)
	var many []types.Tag
	for i := 0; i < 12; i++ {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String(fmt.Sprintf("v%d", i%3))})
	}
	_, err := a.EC2.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{inst}, Tags: many})
	g.Expect(err).NotTo(HaveOccurred())
	kp, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("k"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: tags("Name", "k", "k00", "other")}}})
	g.Expect(err).NotTo(HaveOccurred())
	key := aws.ToString(kp.KeyPairId)

	rows := func(fs ...types.Filter) []string {
		out, err := a.EC2.DescribeTags(a.ctx, &ec2.DescribeTagsInput{Filters: fs})
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		var s []string
		for _, d := range out.Tags {
			s = append(s, aws.ToString(d.ResourceId)+" "+aws.ToString(d.Key)+"="+aws.ToString(d.Value))
		}
		return s
	}
	g.Expect(rows()).To(HaveLen(14))
	g.Expect(rows(filter("resource-type", "key-pair"))).To(ConsistOf(key+" Name=k", key+" k00=other"))
	g.Expect(rows(filter("key", "k00"))).To(ConsistOf(inst+" k00=v0", key+" k00=other"))
	g.Expect(rows(filter("key", "k1*"))).To(ConsistOf(inst+" k10=v1", inst+" k11=v2"))
	g.Expect(rows(filter("value", "v2"), filter("resource-id", inst))).To(ConsistOf(inst+" k02=v2", inst+" k05=v2", inst+" k08=v2", inst+" k11=v2"))
	g.Expect(rows(filter("tag:Name", "k"))).To(ConsistOf(key+" Name=k", key+" k00=other"), "tag:<key> selects the resources, with all their tags")
	g.Expect(rows(filter("resource-id", inst), filter("key", "Name"))).To(BeEmpty())

	var seen []string
	var sizes []int
	var token *string
	for pages := 0; ; pages++ {
		g.Expect(pages).To(BeNumerically("<", 10), "pagination does not end")
		out, err := a.NoRetry.DescribeTags(a.ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5), NextToken: token})
		g.Expect(err).NotTo(HaveOccurred())
		for _, d := range out.Tags {
			seen = append(seen, aws.ToString(d.ResourceId)+" "+aws.ToString(d.Key))
		}
		sizes = append(sizes, len(out.Tags))
		if token = out.NextToken; token == nil {
			break
		}
	}
	g.Expect(sizes).To(Equal([]int{5, 5, 4}))
	g.Expect(seen).To(HaveLen(14))
	unique := map[string]bool{}
	for _, s := range seen {
		unique[s] = true
	}
	g.Expect(unique).To(HaveLen(14), "every tag exactly once")

	_, err = a.NoRetry.DescribeTags(a.ctx, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5), NextToken: aws.String("bm90IGEgdG9rZW4")})
	expectError(g, err, "InvalidPaginationToken")
	_, err = a.NoRetry.DescribeTags(a.ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{filter("owner", "me")}})
	expectError(g, err, "InvalidParameterValue")
}

func TestTagsWithUnicodeAndXMLSpecialCharactersRoundTrip(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	want := map[string]string{
		"Name":            "café ☕ <web> & \"db\" 'x'",
		"path/with:colon": "a+b=c d%20e",
		"日本語":             strings.Repeat("é", 256),
	}
	var ts []types.Tag
	for k, v := range want {
		ts = append(ts, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	id := a.runOne(g, func(in *ec2.RunInstancesInput) {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: ts}}
	})
	g.Expect(tagMap(a.describe(g, id).Tags)).To(Equal(want))
	got, _ := a.tagsOf(g, id)
	g.Expect(got).To(Equal(want))
	g.Expect(a.instanceIDs(g, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:Name", "café ☕ <web>*")}})).To(Equal([]string{id}))

	_, err := a.NoRetry.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags("long", strings.Repeat("é", 257))})
	expectError(g, err, "InvalidParameterValue")
	_, err = a.NoRetry.CreateTags(a.ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags(strings.Repeat("k", 129), "v")})
	expectError(g, err, "InvalidParameterValue")
}
