package endpoint_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	. "github.com/onsi/gomega"
	"golang.org/x/crypto/ssh"

	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/testgen"
)

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

// sha256Fingerprint is the base64 SHA-256 of a public key, as OpenSSH shows it (EC2
// may pad it; either form is accepted).
func sha256Fingerprint(pub ssh.PublicKey) []string {
	sum := sha256.Sum256(pub.Marshal())
	return []string{base64.RawStdEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:])}
}

func TestCreateKeyPairReturnsAPrivateKeyThatParsesWithEC2sFingerprint(t *testing.T) {
	t.Parallel()
	a := newAccount(t)

	t.Run("rsa: a PEM private key and the SHA-1 of its PKCS#8 form", func(t *testing.T) {
		g := NewWithT(t)
		out, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("rsa-key"),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair,
				Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ops")}}}}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(aws.ToString(out.KeyName)).To(Equal("rsa-key"))
		g.Expect(ids.Valid(ids.KeyPair, aws.ToString(out.KeyPairId))).To(BeTrue(), "key pair ID %q", aws.ToString(out.KeyPairId))
		g.Expect(tagMap(out.Tags)).To(Equal(map[string]string{"team": "ops"}))
		g.Expect(aws.ToString(out.KeyMaterial)).To(HavePrefix("-----BEGIN RSA PRIVATE KEY-----"))

		raw, err := ssh.ParseRawPrivateKey([]byte(aws.ToString(out.KeyMaterial)))
		g.Expect(err).NotTo(HaveOccurred())
		priv, ok := raw.(*rsa.PrivateKey)
		g.Expect(ok).To(BeTrue(), "an RSA key, got %T", raw)
		g.Expect(priv.N.BitLen()).To(Equal(2048))
		pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
		g.Expect(err).NotTo(HaveOccurred())
		sum := sha1.Sum(pkcs8)
		g.Expect(aws.ToString(out.KeyFingerprint)).To(Equal(colonHex(sum[:])))

		signer, err := ssh.NewSignerFromKey(priv)
		g.Expect(err).NotTo(HaveOccurred())
		desc, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"rsa-key"}, IncludePublicKey: aws.Bool(true)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(desc.KeyPairs).To(HaveLen(1))
		kp := desc.KeyPairs[0]
		g.Expect(aws.ToString(kp.KeyPairId)).To(Equal(aws.ToString(out.KeyPairId)))
		g.Expect(aws.ToString(kp.KeyFingerprint)).To(Equal(aws.ToString(out.KeyFingerprint)), "Describe shows the fingerprint Create showed")
		g.Expect(kp.KeyType).To(Equal(types.KeyTypeRsa))
		g.Expect(kp.CreateTime).NotTo(BeNil())
		g.Expect(tagMap(kp.Tags)).To(Equal(map[string]string{"team": "ops"}))
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(aws.ToString(kp.PublicKey)))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pub.Marshal()).To(Equal(signer.PublicKey().Marshal()), "the public key is the private key's")
	})

	t.Run("ed25519: an OpenSSH private key and the SHA-256 of its public key", func(t *testing.T) {
		g := NewWithT(t)
		out, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("ed-key"), KeyType: types.KeyTypeEd25519})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(aws.ToString(out.KeyMaterial)).To(HavePrefix("-----BEGIN OPENSSH PRIVATE KEY-----"))
		raw, err := ssh.ParseRawPrivateKey([]byte(aws.ToString(out.KeyMaterial)))
		g.Expect(err).NotTo(HaveOccurred())
		priv, ok := raw.(*ed25519.PrivateKey)
		g.Expect(ok).To(BeTrue(), "an Ed25519 key, got %T", raw)
		pub, err := ssh.NewPublicKey(priv.Public())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sha256Fingerprint(pub)).To(ContainElement(aws.ToString(out.KeyFingerprint)))

		desc, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyPairIds: []string{aws.ToString(out.KeyPairId)}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(desc.KeyPairs).To(HaveLen(1))
		g.Expect(desc.KeyPairs[0].KeyType).To(Equal(types.KeyTypeEd25519))
		g.Expect(aws.ToString(desc.KeyPairs[0].KeyName)).To(Equal("ed-key"))
		g.Expect(aws.ToString(desc.KeyPairs[0].KeyFingerprint)).To(Equal(aws.ToString(out.KeyFingerprint)))
		g.Expect(desc.KeyPairs[0].PublicKey).To(BeNil(), "the public key only when asked for")
	})

	t.Run("a name already taken is InvalidKeyPair.Duplicate", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("rsa-key")})
		expectError(g, err, "InvalidKeyPair.Duplicate")
	})
}

func TestImportKeyPairShowsEC2sFingerprintAndRefusesDuplicates(t *testing.T) {
	t.Parallel()
	a := newAccount(t)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := ssh.NewPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ssh.NewPublicKey(&rsaPriv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("an ed25519 key has the SHA-256 fingerprint", func(t *testing.T) {
		g := NewWithT(t)
		out, err := a.EC2.ImportKeyPair(a.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("laptop"),
			PublicKeyMaterial: append(ssh.MarshalAuthorizedKey(ed), []byte("me@laptop")...)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(aws.ToString(out.KeyName)).To(Equal("laptop"))
		g.Expect(ids.Valid(ids.KeyPair, aws.ToString(out.KeyPairId))).To(BeTrue())
		g.Expect(sha256Fingerprint(ed)).To(ContainElement(aws.ToString(out.KeyFingerprint)))
	})
	t.Run("an rsa key has the MD5 fingerprint of RFC 4716", func(t *testing.T) {
		g := NewWithT(t)
		out, err := a.EC2.ImportKeyPair(a.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("old-laptop"),
			PublicKeyMaterial: ssh.MarshalAuthorizedKey(rs)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(aws.ToString(out.KeyFingerprint)).To(Equal(ssh.FingerprintLegacyMD5(rs)))
		desc, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"old-laptop"}, IncludePublicKey: aws.Bool(true)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(aws.ToString(desc.KeyPairs[0].KeyFingerprint)).To(Equal(ssh.FingerprintLegacyMD5(rs)))
		g.Expect(strings.TrimSpace(aws.ToString(desc.KeyPairs[0].PublicKey))).To(Equal(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rs)))))
	})
	t.Run("a name already imported is InvalidKeyPair.Duplicate", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.ImportKeyPair(a.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("laptop"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(rs)})
		expectError(g, err, "InvalidKeyPair.Duplicate")
	})
	t.Run("material that is no public key is InvalidKeyPair.Format", func(t *testing.T) {
		g := NewWithT(t)
		_, err := a.NoRetry.ImportKeyPair(a.ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("junk"), PublicKeyMaterial: []byte("ssh-rsa not-a-key")})
		expectError(g, err, "InvalidKeyPair.Format")
	})
}

func TestDescribeKeyPairsSelectsByNameIDAndFilter(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	made := map[string]*ec2.CreateKeyPairOutput{}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		out, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name), KeyType: types.KeyTypeEd25519,
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair,
				Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String(name[:1])}}}}})
		g.Expect(err).NotTo(HaveOccurred())
		made[name] = out
	}
	names := func(in *ec2.DescribeKeyPairsInput) []string {
		out, err := a.EC2.DescribeKeyPairs(a.ctx, in)
		g.ExpectWithOffset(1, err).NotTo(HaveOccurred())
		var s []string
		for _, k := range out.KeyPairs {
			s = append(s, aws.ToString(k.KeyName))
		}
		return s
	}
	g.Expect(names(&ec2.DescribeKeyPairsInput{})).To(Equal([]string{"alpha", "beta", "gamma"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{KeyNames: []string{"beta"}})).To(Equal([]string{"beta"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{KeyPairIds: []string{aws.ToString(made["gamma"].KeyPairId)}})).To(Equal([]string{"gamma"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("key-name", "*a")}})).To(Equal([]string{"alpha", "beta", "gamma"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("key-name", "?eta")}})).To(Equal([]string{"beta"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("fingerprint", aws.ToString(made["alpha"].KeyFingerprint))}})).To(Equal([]string{"alpha"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("key-pair-id", aws.ToString(made["beta"].KeyPairId))}})).To(Equal([]string{"beta"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("tag:tier", "g")}})).To(Equal([]string{"gamma"}))
	g.Expect(names(&ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("key-type", "rsa")}})).To(BeEmpty())

	_, err := a.NoRetry.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"alpha", "delta"}})
	e := expectError(g, err, "InvalidKeyPair.NotFound")
	g.Expect(e.Message).To(ContainSubstring("delta"))
	_, err = a.NoRetry.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{Filters: []types.Filter{filter("colour", "red")}})
	expectError(g, err, "InvalidParameterValue")
}

func TestDeleteKeyPairRemovesItAndDeletingAMissingOneSucceeds(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	one, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("one")})
	g.Expect(err).NotTo(HaveOccurred())
	two, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("two")})
	g.Expect(err).NotTo(HaveOccurred())

	del, err := a.EC2.DeleteKeyPair(a.ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("one")})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(aws.ToBool(del.Return)).To(BeTrue())
	g.Expect(aws.ToString(del.KeyPairId)).To(Equal(aws.ToString(one.KeyPairId)))
	_, err = a.NoRetry.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"one"}})
	expectError(g, err, "InvalidKeyPair.NotFound")

	_, err = a.EC2.DeleteKeyPair(a.ctx, &ec2.DeleteKeyPairInput{KeyPairId: two.KeyPairId})
	g.Expect(err).NotTo(HaveOccurred())
	out, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out.KeyPairs).To(BeEmpty())

	again, err := a.EC2.DeleteKeyPair(a.ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("one")})
	g.Expect(err).NotTo(HaveOccurred(), "deleting a key pair that does not exist succeeds, as in EC2")
	g.Expect(aws.ToBool(again.Return)).To(BeTrue())

	// The name is free again.
	_, err = a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("one")})
	g.Expect(err).NotTo(HaveOccurred())
}

func TestKeyPairCreatedWithKubectlIsDescribedAndLaunchesInstances(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	a := newAccount(t)
	g.Expect(k8s.Create(a.ctx, testgen.KeyPair("ops", a.Namespace, testgen.Ed25519Key))).To(Succeed())
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(testgen.Ed25519Key))
	g.Expect(err).NotTo(HaveOccurred())

	g.Eventually(func(g Gomega) {
		out, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"ops"}})
		g.Expect(plain(err)).NotTo(HaveOccurred())
		g.Expect(out.KeyPairs).To(HaveLen(1))
		kp := out.KeyPairs[0]
		g.Expect(ids.Valid(ids.KeyPair, aws.ToString(kp.KeyPairId))).To(BeTrue())
		g.Expect(kp.KeyType).To(Equal(types.KeyTypeEd25519))
		g.Expect(sha256Fingerprint(pub)).To(ContainElement(aws.ToString(kp.KeyFingerprint)))
	}, timeout, poll).Should(Succeed())

	id := a.runOne(g, withKey("ops"))
	a.waitRunning(g, id)
	g.Expect(aws.ToString(a.describe(g, id).KeyName)).To(Equal("ops"))
}

func TestKeyPairNamesThatAreNoObjectNamesWork(t *testing.T) {
	t.Parallel()
	a := newAccount(t)
	for _, name := range []string{"My Laptop (2024)", "key-looks-like-an-id", "team/alice@example.com", strings.Repeat("k", 255)} {
		t.Run(name[:min(len(name), 20)], func(t *testing.T) {
			g := NewWithT(t)
			out, err := a.EC2.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name), KeyType: types.KeyTypeEd25519})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(aws.ToString(out.KeyName)).To(Equal(name))
			desc, err := a.EC2.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{name}})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(aws.ToString(desc.KeyPairs[0].KeyPairId)).To(Equal(aws.ToString(out.KeyPairId)))
			_, err = a.NoRetry.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(name)})
			expectError(g, err, "InvalidKeyPair.Duplicate")
			_, err = a.EC2.DeleteKeyPair(a.ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String(name)})
			g.Expect(err).NotTo(HaveOccurred())
			_, err = a.NoRetry.DescribeKeyPairs(a.ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{name}})
			expectError(g, err, "InvalidKeyPair.NotFound")
		})
	}
	g := NewWithT(t)
	_, err := a.NoRetry.CreateKeyPair(a.ctx, &ec2.CreateKeyPairInput{KeyName: aws.String(strings.Repeat("k", 256))})
	expectError(g, err, "InvalidParameterValue")
}
