// Package keypairs answers EC2's key pair actions: CreateKeyPair, ImportKeyPair,
// DescribeKeyPairs and DeleteKeyPair.
package keypairs

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/filter"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/store"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/sshkeys"
)

// fingerprintAnnotation carries the fingerprint of a key Koala generated (it needs the
// private key, which is never stored); the operator copies it into status.
const fingerprintAnnotation = "cloud.koala.dev/key-fingerprint"

// Store is what the handlers read and write.
type Store interface {
	KeyPairByName(ctx context.Context, acct store.Account, name string) (*koalav1.KeyPair, error)
	KeyPair(ctx context.Context, acct store.Account, id string) (*koalav1.KeyPair, error)
	KeyPairs(ctx context.Context, acct store.Account) ([]koalav1.KeyPair, error)
	store.Writer
}

// Handlers answers the key pair actions.
type Handlers struct {
	Store Store
}

// Actions returns the key pair actions.
func (h *Handlers) Actions() []action.Action {
	return []action.Action{
		action.Bind("CreateKeyPair", true, parseCreate, h.create),
		action.Bind("ImportKeyPair", true, parseImport, h.importKey),
		action.Bind("DescribeKeyPairs", false, parseDescribe, h.describe),
		action.Bind("DeleteKeyPair", true, parseDelete, h.delete),
	}
}

type keyPairXML struct {
	KeyPairID      string         `xml:"keyPairId"`
	KeyType        string         `xml:"keyType"`
	TagSet         []tagging.Item `xml:"tagSet>item,omitempty"`
	PublicKey      string         `xml:"publicKey,omitempty"`
	CreateTime     string         `xml:"createTime"`
	KeyName        string         `xml:"keyName"`
	KeyFingerprint string         `xml:"keyFingerprint"`
}

type createResponse struct {
	protocol.Meta
	KeyPairID      string         `xml:"keyPairId"`
	TagSet         []tagging.Item `xml:"tagSet>item,omitempty"`
	KeyName        string         `xml:"keyName"`
	KeyFingerprint string         `xml:"keyFingerprint"`
	KeyMaterial    string         `xml:"keyMaterial,omitempty"`
}

type describeResponse struct {
	protocol.Meta
	KeySet []keyPairXML `xml:"keySet>item"`
}

type deleteResponse struct {
	protocol.Meta
	Return    bool   `xml:"return"`
	KeyPairID string `xml:"keyPairId,omitempty"`
}

// checkKeyName applies EC2's rule: 1 to 255 ASCII characters.
func checkKeyName(name string) error {
	if name == "" {
		return protocol.MissingParameter("KeyName")
	}
	if len(name) > 255 {
		return protocol.Errorf(protocol.CodeInvalidParameterValue, "Key names may be at most 255 characters long")
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return protocol.Errorf(protocol.CodeInvalidParameterValue, "Key names must be printable ASCII")
		}
	}
	return nil
}

// objectName is the KeyPair's object name: the key name itself when Kubernetes allows
// it, else one derived from it. Deriving the name from the key name makes a second
// create of the same name collide in the API server, so duplicates are refused
// atomically even across endpoint replicas.
func objectName(acct store.Account, keyName string) string {
	if len(validation.IsDNS1123Subdomain(keyName)) == 0 && !strings.HasPrefix(keyName, "key-") {
		return keyName
	}
	return ids.FromSeed(ids.KeyPair, acct.Namespace, keyName)
}

type createInput struct {
	name    string
	keyType sshkeys.Type
	tags    map[string]string
}

func parseCreate(p *protocol.Params) (createInput, error) {
	name, _ := p.String("KeyName")
	if err := checkKeyName(name); err != nil {
		return createInput{}, err
	}
	in := createInput{name: name, keyType: sshkeys.RSA}
	if t, ok := p.String("KeyType"); ok {
		switch sshkeys.Type(t) {
		case sshkeys.RSA, sshkeys.ED25519:
			in.keyType = sshkeys.Type(t)
		default:
			return in, protocol.InvalidValue("KeyType", t, "Expected rsa or ed25519.")
		}
	}
	if f, ok := p.String("KeyFormat"); ok && f != "pem" {
		return in, protocol.InvalidValue("KeyFormat", f, "Only the pem format is supported.")
	}
	specs, err := tagging.Specifications(p, "key-pair")
	if err != nil {
		return in, err
	}
	in.tags = specs["key-pair"]
	return in, nil
}

func duplicate(name string) error {
	return protocol.Errorf(protocol.CodeInvalidKeyPairDuplicate, "The keypair '%s' already exists.", name)
}

// save creates the KeyPair object, refusing a name the account already has.
func (h *Handlers) save(ctx context.Context, c *action.Call, name string, pub sshkeys.Public, fingerprint string, tags map[string]string) (*koalav1.KeyPair, error) {
	existing, err := h.Store.KeyPairByName(ctx, c.Account, name)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, duplicate(name)
	}
	id := ids.New(ids.KeyPair)
	kp := &koalav1.KeyPair{
		ObjectMeta: metav1.ObjectMeta{
			Name:        objectName(c.Account, name),
			Namespace:   c.Account.Namespace,
			Annotations: map[string]string{koalav1.IDAnnotation: id, fingerprintAnnotation: fingerprint},
		},
		Spec: koalav1.KeyPairSpec{KeyName: name, PublicKey: pub.AuthorizedKey, Tags: tags},
	}
	if err := h.Store.Create(ctx, kp); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil, duplicate(name)
		}
		return nil, fmt.Errorf("creating key pair: %w", err)
	}
	return kp, nil
}

func (h *Handlers) create(ctx context.Context, c *action.Call, in createInput) (protocol.Body, error) {
	pair, err := sshkeys.Generate(in.keyType)
	if err != nil {
		return nil, err
	}
	kp, err := h.save(ctx, c, in.name, pair.Public, pair.CreatedFingerprint, in.tags)
	if err != nil {
		return nil, err
	}
	c.Created(kp.EC2ID())
	return &createResponse{
		KeyPairID:      kp.EC2ID(),
		TagSet:         tagging.Set(in.tags),
		KeyName:        in.name,
		KeyFingerprint: pair.CreatedFingerprint,
		KeyMaterial:    pair.PrivateKeyPEM,
	}, nil
}

type importInput struct {
	name string
	pub  sshkeys.Public
	tags map[string]string
}

func parseImport(p *protocol.Params) (importInput, error) {
	name, _ := p.String("KeyName")
	if err := checkKeyName(name); err != nil {
		return importInput{}, err
	}
	material, err := p.Required("PublicKeyMaterial")
	if err != nil {
		return importInput{}, err
	}
	// The API takes the key base64-encoded (SDKs encode the blob); a raw OpenSSH line
	// is accepted too.
	text := material
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(material)); err == nil {
		text = string(raw)
	}
	pub, err := sshkeys.ParsePublic(text)
	if err != nil {
		return importInput{}, protocol.Errorf(protocol.CodeInvalidKeyPairFormat, "Key is not in valid OpenSSH public key format")
	}
	specs, err := tagging.Specifications(p, "key-pair")
	if err != nil {
		return importInput{}, err
	}
	return importInput{name: name, pub: pub, tags: specs["key-pair"]}, nil
}

func (h *Handlers) importKey(ctx context.Context, c *action.Call, in importInput) (protocol.Body, error) {
	kp, err := h.save(ctx, c, in.name, in.pub, in.pub.Fingerprint, in.tags)
	if err != nil {
		return nil, err
	}
	c.Created(kp.EC2ID())
	return &createResponse{KeyPairID: kp.EC2ID(), TagSet: tagging.Set(in.tags), KeyName: in.name, KeyFingerprint: in.pub.Fingerprint}, nil
}

var keyFilters = filter.Schema[*koalav1.KeyPair]{
	Fields: map[string]func(*koalav1.KeyPair) []string{
		"key-pair-id": func(k *koalav1.KeyPair) []string { return []string{k.EC2ID()} },
		"key-name":    func(k *koalav1.KeyPair) []string { return []string{k.KeyName()} },
		"fingerprint": func(k *koalav1.KeyPair) []string { return []string{fingerprint(k)} },
		"key-type":    func(k *koalav1.KeyPair) []string { return []string{keyType(k)} },
	},
	Tags: func(k *koalav1.KeyPair) map[string]string { return k.Spec.Tags },
}

func fingerprint(k *koalav1.KeyPair) string {
	if k.Status.KeyFingerprint != "" {
		return k.Status.KeyFingerprint
	}
	if fp := k.Annotations[fingerprintAnnotation]; fp != "" {
		return fp
	}
	if pub, err := sshkeys.ParsePublic(k.Spec.PublicKey); err == nil {
		return pub.Fingerprint
	}
	return ""
}

func keyType(k *koalav1.KeyPair) string {
	if k.Status.KeyType != "" {
		return string(k.Status.KeyType)
	}
	if strings.HasPrefix(k.Spec.PublicKey, "ssh-ed25519 ") {
		return string(sshkeys.ED25519)
	}
	return string(sshkeys.RSA)
}

type describeInput struct {
	names, ids    []string
	filters       []filter.Filter
	withPublicKey bool
}

func parseDescribe(p *protocol.Params) (describeInput, error) {
	var in describeInput
	var err error
	if in.names, err = p.Strings("KeyName"); err != nil {
		return in, err
	}
	if in.ids, err = p.Strings("KeyPairId"); err != nil {
		return in, err
	}
	for _, id := range in.ids {
		if !ids.Valid(ids.KeyPair, id) {
			return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid id: \"%s\" (expecting \"key-...\")", id)
		}
	}
	if in.filters, err = p.Filters(); err != nil {
		return in, err
	}
	if in.withPublicKey, _, err = p.Bool("IncludePublicKey"); err != nil {
		return in, err
	}
	return in, nil
}

func (h *Handlers) describe(ctx context.Context, c *action.Call, in describeInput) (protocol.Body, error) {
	match, err := keyFilters.Compile(in.filters)
	if err != nil {
		return nil, err
	}
	all, err := h.Store.KeyPairs(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	// Of several key pairs of one name (made with kubectl), only the valid, oldest one
	// is the account's key of that name.
	valid := map[string]*koalav1.KeyPair{}
	for i := range all {
		k := &all[i]
		if k.EC2ID() == "" {
			continue
		}
		if cur, ok := valid[k.KeyName()]; !ok || k.Precedes(cur) {
			valid[k.KeyName()] = k
		}
	}
	byID := map[string]*koalav1.KeyPair{}
	for _, k := range valid {
		byID[k.EC2ID()] = k
	}
	var selected []*koalav1.KeyPair
	switch {
	case len(in.names) > 0 || len(in.ids) > 0:
		seen := map[*koalav1.KeyPair]bool{}
		for _, n := range in.names {
			k, ok := valid[n]
			if !ok {
				return nil, protocol.Errorf(protocol.CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", n)
			}
			if !seen[k] {
				seen[k] = true
				selected = append(selected, k)
			}
		}
		for _, id := range in.ids {
			k, ok := byID[id]
			if !ok {
				return nil, protocol.Errorf(protocol.CodeInvalidKeyPairNotFound, "The key pair ID '%s' does not exist", id)
			}
			if !seen[k] {
				seen[k] = true
				selected = append(selected, k)
			}
		}
	default:
		for _, k := range valid {
			selected = append(selected, k)
		}
	}
	sort.Slice(selected, func(i, j int) bool { return selected[i].KeyName() < selected[j].KeyName() })
	out := &describeResponse{}
	for _, k := range selected {
		if !match.Match(k) {
			continue
		}
		x := keyPairXML{
			KeyPairID:      k.EC2ID(),
			KeyType:        keyType(k),
			TagSet:         tagging.Set(k.Spec.Tags),
			CreateTime:     protocol.FormatTime(k.CreationTimestamp.Time),
			KeyName:        k.KeyName(),
			KeyFingerprint: fingerprint(k),
		}
		if in.withPublicKey {
			x.PublicKey = k.Spec.PublicKey
		}
		out.KeySet = append(out.KeySet, x)
	}
	return out, nil
}

type deleteInput struct{ name, id string }

func parseDelete(p *protocol.Params) (deleteInput, error) {
	name, _ := p.String("KeyName")
	id, _ := p.String("KeyPairId")
	if name == "" && id == "" {
		return deleteInput{}, protocol.MissingParameter("KeyName or KeyPairId")
	}
	if id != "" && !ids.Valid(ids.KeyPair, id) {
		return deleteInput{}, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid id: \"%s\" (expecting \"key-...\")", id)
	}
	return deleteInput{name: name, id: id}, nil
}

// delete removes a key pair. As in EC2, deleting a key pair that does not exist
// succeeds; instances launched with it keep their key.
func (h *Handlers) delete(ctx context.Context, c *action.Call, in deleteInput) (protocol.Body, error) {
	var kp *koalav1.KeyPair
	var err error
	if in.id != "" {
		kp, err = h.Store.KeyPair(ctx, c.Account, in.id)
	} else {
		kp, err = h.Store.KeyPairByName(ctx, c.Account, in.name)
	}
	if err != nil {
		return nil, err
	}
	if kp == nil {
		return &deleteResponse{Return: true}, nil
	}
	if err := h.Store.Delete(ctx, kp); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting key pair %s: %w", kp.EC2ID(), err)
	}
	return &deleteResponse{Return: true, KeyPairID: kp.EC2ID()}, nil
}
