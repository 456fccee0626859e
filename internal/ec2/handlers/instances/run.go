package instances

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
	"github.com/koala-dev/koala/internal/catalog"
	"github.com/koala-dev/koala/internal/ec2/action"
	"github.com/koala-dev/koala/internal/ec2/protocol"
	"github.com/koala-dev/koala/internal/ec2/tagging"
	"github.com/koala-dev/koala/internal/ids"
	"github.com/koala-dev/koala/internal/quota"
)

// instanceFinalizer is the operator's finalizer. The endpoint sets it at creation, so
// that the operator need not spend a write adding it.
const instanceFinalizer = "cloud.koala.dev/instance"

// maxLaunch bounds MaxCount of one request.
const maxLaunch = 1000

// maxUserData is EC2's limit on user data, before base64 encoding.
const maxUserData = 16 * 1024

type runInput struct {
	imageID, instanceType, keyName, userData, zone, clientToken string
	minCount, maxCount                                          int
	tags                                                        map[string]string
	disableTermination, disableStop                             bool
	shutdownBehavior                                            koalav1.ShutdownBehavior
	// blockDeviceMappings and volumeTags shape the launch's volumes (blockdevices.go).
	blockDeviceMappings []koalav1.BlockDeviceMapping
	volumeTags          map[string]string
	// network is where the instances go (network.go).
	network launchNetwork
	// firstIsNew: the API server had no instance of launch index 0 for clientToken
	// when the launch began (checkClientToken read it), so launchOne need not ask again.
	firstIsNew bool
}

// digest covers every parameter that makes two launches different, for
// IdempotentParameterMismatch.
func (in runInput) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %q %d %d %v %v %q", in.imageID, in.instanceType, in.keyName, in.userData, in.zone,
		in.minCount, in.maxCount, in.disableTermination, in.disableStop, in.shutdownBehavior)
	for _, t := range tagging.Set(in.tags) {
		fmt.Fprintf(h, " %q=%q", t.Key, t.Value)
	}
	digestLaunchVolumes(h, in)
	digestLaunchNetwork(h, in)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func (h *Handlers) parseRun(p *protocol.Params) (runInput, error) {
	var in runInput
	var err error
	if in.imageID, err = p.Required("ImageId"); err != nil {
		return in, err
	}
	if !ids.Valid(ids.Image, in.imageID) {
		return in, protocol.Errorf(protocol.CodeInvalidAMIIDMalformed, "Invalid id: \"%s\" (expecting \"ami-...\")", in.imageID)
	}
	in.instanceType, _ = p.String("InstanceType")
	if in.instanceType == "" {
		in.instanceType = h.DefaultInstanceType
	}
	minCount, ok, err := p.Int("MinCount", 1, maxLaunch)
	if err != nil {
		return in, err
	}
	if !ok {
		return in, protocol.MissingParameter("MinCount")
	}
	maxCount, ok, err := p.Int("MaxCount", 1, maxLaunch)
	if err != nil {
		return in, err
	}
	if !ok {
		return in, protocol.MissingParameter("MaxCount")
	}
	if minCount > maxCount {
		return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "MinCount (%d) must not be greater than MaxCount (%d)", minCount, maxCount)
	}
	in.minCount, in.maxCount = int(minCount), int(maxCount)
	in.keyName, _ = p.String("KeyName")
	if ud, ok := p.String("UserData"); ok && ud != "" {
		raw, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return in, protocol.Errorf(protocol.CodeInvalidUserDataMalformed, "Invalid BASE64 encoding of user data.")
		}
		if len(raw) > maxUserData {
			return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "User data is limited to %d bytes", maxUserData)
		}
		// Re-encoded: the decoder skips line breaks (MIME encoders wrap base64 at 76
		// characters, and EC2 accepts that), which spec.userData's pattern refuses.
		in.userData = base64.StdEncoding.EncodeToString(raw)
	}
	if pl, ok := p.Struct("Placement"); ok {
		in.zone, _ = pl.String("AvailabilityZone")
		if t, ok := pl.String("Tenancy"); ok && t != "default" {
			return in, protocol.InvalidValue("Placement.Tenancy", t, "Only the default tenancy is supported.")
		}
		if g, ok := pl.String("GroupName"); ok && g != "" {
			return in, protocol.InvalidValue("Placement.GroupName", g, "Placement groups are not supported.")
		}
	}
	if mon, ok := p.Struct("Monitoring"); ok {
		enabled, _, err := mon.Bool("Enabled")
		if err != nil {
			return in, err
		}
		if enabled {
			return in, protocol.InvalidValue("Monitoring.Enabled", "true", "Detailed monitoring is not supported.")
		}
	}
	if in.clientToken, _ = p.String("ClientToken"); len(in.clientToken) > 64 {
		return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "ClientToken must be at most 64 characters long")
	}
	for i := 0; i < len(in.clientToken); i++ {
		if in.clientToken[i] < 0x20 || in.clientToken[i] > 0x7e {
			return in, protocol.Errorf(protocol.CodeInvalidParameterValue, "ClientToken must be printable ASCII")
		}
	}
	if in.disableTermination, _, err = p.Bool("DisableApiTermination"); err != nil {
		return in, err
	}
	if in.disableStop, _, err = p.Bool("DisableApiStop"); err != nil {
		return in, err
	}
	in.shutdownBehavior = koalav1.ShutdownBehaviorStop
	if b, ok := p.String("InstanceInitiatedShutdownBehavior"); ok {
		switch koalav1.ShutdownBehavior(b) {
		case koalav1.ShutdownBehaviorStop, koalav1.ShutdownBehaviorTerminate:
			in.shutdownBehavior = koalav1.ShutdownBehavior(b)
		default:
			return in, protocol.InvalidValue("InstanceInitiatedShutdownBehavior", b, "Expected stop or terminate.")
		}
	}
	if eo, _, err := p.Bool("EbsOptimized"); err != nil {
		return in, err
	} else if eo {
		return in, protocol.InvalidValue("EbsOptimized", "true", "EBS optimization is not supported.")
	}
	specs, err := tagging.Specifications(p, "instance", "volume")
	if err != nil {
		return in, err
	}
	in.tags, in.volumeTags = specs["instance"], specs["volume"]
	if err := parseLaunchVolumes(p, &in); err != nil {
		return in, err
	}
	if err := parseLaunchNetwork(p, &in); err != nil {
		return in, err
	}
	return in, nil
}

func (h *Handlers) run(ctx context.Context, c *action.Call, in runInput) (protocol.Body, error) {
	digest := in.digest()
	earlier, firstIsNew, err := h.checkClientToken(ctx, c, in.clientToken, digest)
	if err != nil {
		return nil, err
	}
	in.firstIsNew = firstIsNew
	it, err := h.checkLaunch(ctx, c, in)
	if err != nil {
		return nil, err
	}
	if earlier > 0 {
		// A retry: answer with what the first request launched, quotas aside.
		in.maxCount = earlier
	} else {
		unlock, err := h.fitQuota(ctx, c, &in, catalog.Describe(it))
		if err != nil {
			return nil, err
		}
		defer unlock()
		if err := h.fitVolumeQuota(ctx, c, &in); err != nil {
			return nil, err
		}
	}
	reservation := ids.New(ids.Reservation)
	if in.clientToken != "" {
		reservation = ids.FromSeed(ids.Reservation, c.Account.Namespace, in.clientToken)
	}
	net, err := h.resolveLaunchNetwork(ctx, c, &in, reservation)
	if err != nil {
		return nil, err
	}
	if net != nil && earlier == 0 {
		if err := h.fitSubnet(ctx, net, &in); err != nil {
			return nil, err
		}
	}

	launched := make([]*koalav1.Instance, in.maxCount)
	errs := make([]error, in.maxCount)
	var wg sync.WaitGroup
	// Instances are created in parallel, at most launchParallelism at a time: the API
	// server (and etcd, which commits concurrent writes together) gets through a batch
	// about twice as fast with 64 in flight as with 16.
	sem := make(chan struct{}, launchParallelism)
	for i := 0; i < in.maxCount; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			launched[i], errs[i] = h.launchOne(ctx, c, in, net, reservation, digest, i)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		// Without a client token a retry cannot resume this launch: undo it. With one,
		// the instances stay, and the retry finds them.
		if in.clientToken == "" {
			for _, inst := range launched {
				if inst != nil {
					_ = h.Store.Delete(context.WithoutCancel(ctx), inst)
				}
			}
		}
		return nil, firstEC2Error(errs)
	}
	v, err := h.view(ctx, c.Account)
	if err != nil {
		return nil, err
	}
	for _, inst := range launched {
		c.Created(inst.EC2ID())
	}
	res := v.reservations(launched, c.Account.ID)
	if len(res) != 1 {
		return nil, fmt.Errorf("launch of %d instances produced %d reservations", len(launched), len(res))
	}
	return &runInstancesResponse{reservationXML: res[0]}, nil
}

// launchParallelism bounds the instances of one launch created at once; each is three
// API writes (address claim, volumes, instance).
const launchParallelism = 64

// firstEC2Error picks the error to answer with: an EC2 error if any, else the first.
func firstEC2Error(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *protocol.Error
		if errors.As(err, &e) {
			return e
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// checkClientToken refuses a client token that an earlier launch used with other
// parameters, before anything is created: launchOne would only notice the mismatch on
// the instances the first launch made, after creating those it did not make (a retry
// with a larger MaxCount would leave them behind). Every launch with a token has an
// instance of launch index 0, so that one tells.
// It returns how many instances the earlier request with the token launched (0 when
// there was none), and whether it asked the API server and heard that there was none:
// then launchOne need not ask again for launch index 0 (every SDK launch has a token,
// and most launch one instance: that read would be a third API round trip of four).
func (h *Handlers) checkClientToken(ctx context.Context, c *action.Call, token, digest string) (earlier int, firstIsNew bool, err error) {
	if token == "" {
		return 0, false, nil
	}
	id := ids.FromSeed(ids.Instance, c.Account.Namespace, token, "0")
	existing, err := h.Store.InstanceByName(ctx, c.Account, id)
	if err != nil {
		return 0, false, err
	}
	if existing == nil {
		// Not in our cache (yet): ask the API server's, as launchOne does.
		existing = &koalav1.Instance{}
		if err := h.Store.Direct().Get(ctx, client.ObjectKey{Namespace: c.Account.Namespace, Name: id}, existing, fromWatchCache); err != nil {
			if apierrors.IsNotFound(err) {
				return 0, true, nil
			}
			return 0, false, fmt.Errorf("reading the instance of client token %q: %w", token, err)
		}
	}
	if existing.Annotations[koalav1.ClientTokenHashAnnotation] != digest {
		return 0, false, protocol.Errorf(protocol.CodeIdempotentParameterMismatch,
			"The client token '%s' was already used with different parameters", token)
	}
	n, err := strconv.Atoi(existing.Annotations[koalav1.LaunchCountAnnotation])
	if err != nil || n < 1 {
		n = 1 // launched before counts were recorded: at least this one
	}
	return n, false, nil
}

// fitQuota decides how many instances the launch starts: MaxCount if the account's
// quotas allow, else as many as they allow down to MinCount, else the quota's error,
// as EC2 does. It holds the account's launch lock until unlock.
func (h *Handlers) fitQuota(ctx context.Context, c *action.Call, in *runInput, t catalog.Type) (unlock func(), err error) {
	used, unlock, err := h.lockUsage(ctx, c)
	if err != nil || used == nil {
		return unlock, err
	}
	q := c.Account.Quotas
	for n := in.maxCount; n >= in.minCount; n-- {
		if quota.Check(q, *used, quota.Of(t, int64(n))) == nil {
			in.maxCount = n
			return unlock, nil
		}
	}
	unlock()
	return nil, quota.Check(q, *used, quota.Of(t, int64(in.minCount)))
}

// lockUsage takes the account's quota lock and counts what its instances use, so
// that two launches or starts on this endpoint cannot both fit into the last of a
// quota (the operator catches those that raced on different replicas). An account
// that limits only its storage gets the lock (its launches' volumes count) and no
// usage; one without quotas neither.
func (h *Handlers) lockUsage(ctx context.Context, c *action.Call) (used *quota.Usage, unlock func(), err error) {
	q := c.Account.Quotas
	if !quota.Limited(q) && q.VolumeGiB == nil {
		return nil, func() {}, nil
	}
	unlock, err = h.QuotaLocks.CheckLocked(c.Account.Namespace, func() error {
		if !quota.Limited(q) {
			return nil
		}
		types, err := h.catalog(ctx)
		if err != nil {
			return err
		}
		insts, err := h.Store.Instances(ctx, c.Account)
		if err != nil {
			return err
		}
		u := quota.InstanceUsage(insts, types)
		used = &u
		return nil
	})
	return used, unlock, err
}

// catalog is the EC2 view of every instance type, by name.
func (h *Handlers) catalog(ctx context.Context) (map[string]catalog.Type, error) {
	its, err := h.Store.InstanceTypes(ctx)
	if err != nil {
		return nil, err
	}
	types := make(map[string]catalog.Type, len(its))
	for i := range its {
		types[its[i].Name] = catalog.Describe(&its[i])
	}
	return types, nil
}

// checkLaunch refuses a launch that cannot work, before anything is created. It
// returns the instance type.
func (h *Handlers) checkLaunch(ctx context.Context, c *action.Call, in runInput) (*instancetypev1beta1.VirtualMachineClusterInstancetype, error) {
	img, err := h.Store.Image(ctx, c.Account, in.imageID)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", in.imageID)
	}
	if img.Status.State == koalav1.ImageStateFailed {
		return nil, protocol.Errorf(protocol.CodeInvalidAMIIDUnavailable, "The image '%s' is failed and cannot be launched", in.imageID)
	}
	if err := h.checkLaunchVolumes(ctx, c, in, img); err != nil {
		return nil, err
	}
	it, err := h.Store.InstanceType(ctx, in.instanceType)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, protocol.InvalidValue("InstanceType", in.instanceType, "")
	}
	if in.keyName != "" {
		kp, err := h.Store.KeyPairByName(ctx, c.Account, in.keyName)
		if err != nil {
			return nil, err
		}
		if kp == nil {
			return nil, protocol.Errorf(protocol.CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", in.keyName)
		}
	}
	if in.zone != "" {
		zs, err := h.Store.Zones(ctx, h.Region)
		if err != nil {
			return nil, err
		}
		found := false
		for _, z := range zs {
			found = found || z == in.zone
		}
		if !found {
			return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "Invalid availability zone: [%s]", in.zone)
		}
	}
	return it, nil
}

// launchOne creates the i-th instance of a launch. With a client token its ID (and so
// its object name) derives from the token, so a retried request finds what the first
// one created instead of launching again.
func (h *Handlers) launchOne(ctx context.Context, c *action.Call, in runInput, net *resolvedNetwork, reservation, digest string, i int) (*koalav1.Instance, error) {
	id := ids.New(ids.Instance)
	if in.clientToken != "" {
		id = ids.FromSeed(ids.Instance, c.Account.Namespace, in.clientToken, strconv.Itoa(i))
	}
	inst := &koalav1.Instance{
		ObjectMeta: metav1.ObjectMeta{
			Name:       id,
			Namespace:  c.Account.Namespace,
			Finalizers: []string{instanceFinalizer},
			Annotations: map[string]string{
				koalav1.IDAnnotation:            id,
				koalav1.ReservationIDAnnotation: reservation,
				koalav1.LaunchIndexAnnotation:   strconv.Itoa(i),
				koalav1.LaunchCountAnnotation:   strconv.Itoa(in.maxCount),
			},
		},
		Spec: koalav1.InstanceSpec{
			ImageID:                           in.imageID,
			InstanceType:                      in.instanceType,
			KeyName:                           in.keyName,
			UserData:                          in.userData,
			Tags:                              in.tags,
			State:                             koalav1.DesiredStateRunning,
			DisableAPITermination:             in.disableTermination,
			DisableAPIStop:                    in.disableStop,
			InstanceInitiatedShutdownBehavior: in.shutdownBehavior,
			Placement:                         koalav1.Placement{AvailabilityZone: in.zone},
			BlockDeviceMappings:               in.blockDeviceMappings,
			ClientToken:                       in.clientToken,
		},
	}
	if in.clientToken != "" {
		inst.Annotations[koalav1.ClientTokenHashAnnotation] = digest
	}
	address := ""
	if net != nil && in.clientToken != "" && !(i == 0 && in.firstIsNew) {
		// A retry must not claim a second address for an instance made already.
		if existing, err := h.existingOfToken(ctx, c, id, in.clientToken); err != nil || existing != nil {
			if err == nil && existing.Annotations[koalav1.ClientTokenHashAnnotation] != digest {
				err = protocol.Errorf(protocol.CodeIdempotentParameterMismatch,
					"The client token '%s' was already used with different parameters", in.clientToken)
			}
			if err != nil {
				return nil, err
			}
			return existing, nil
		}
	}
	// The address and the volumes first, the instance after them: the operator finds
	// them when it first sees the instance (else it would make the volumes itself).
	// The address claim and the volumes do not depend on each other, so they are made
	// at once: a launch then waits for two API round trips, not three.
	var claimErr error
	claimed := make(chan struct{})
	if net != nil {
		// The subnet decides the zone, as in EC2.
		inst.Spec.Placement.AvailabilityZone = net.subnet.Zone()
		inst.Spec.SubnetID = net.subnet.EC2ID()
		inst.Spec.SecurityGroupIDs = net.groups
		go func() {
			defer close(claimed)
			address, claimErr = h.claimAddress(ctx, c, net, id, in.network.privateIP)
		}()
	} else {
		close(claimed)
	}
	vols, err := h.createLaunchVolumes(ctx, c, in, inst, reservation, i)
	<-claimed
	if err != nil || claimErr != nil {
		// Undo what half of the pair did; with a client token what a first request made
		// (AlreadyExists) stays for its retry.
		if err == nil {
			h.deleteVolumes(ctx, vols)
			return nil, claimErr
		}
		if net != nil && claimErr == nil && !(in.clientToken != "" && apierrors.IsAlreadyExists(err)) {
			h.releaseAddress(context.WithoutCancel(ctx), c, net, id, address)
		}
		return nil, err
	}
	if net != nil {
		inst.Spec.PrivateIPAddress = address
		// Shown at once, as RunInstances answers with it; the operator confirms it.
		inst.Status.PrivateIPAddress = address
	}
	status := inst.Status
	err = h.Store.CreateUnawaited(ctx, inst)
	if err == nil {
		// The volumes' watch events came while the instance was being written: the
		// wait for them ends at once, and a launch waits for the cache once.
		h.Store.Await(ctx, inst)
		for _, v := range vols {
			h.Store.Await(ctx, v)
		}
		inst.Status = status
		return inst, nil
	}
	if !(in.clientToken != "" && apierrors.IsAlreadyExists(err)) {
		h.deleteVolumes(ctx, vols)
		if net != nil {
			h.releaseAddress(context.WithoutCancel(ctx), c, net, id, address)
		}
	}
	if apierrors.IsInvalid(err) {
		// What the parameters' checks let through and the API server's schema refuses
		// is still the client's mistake, not ours.
		return nil, protocol.Errorf(protocol.CodeInvalidParameterValue, "%s", firstCause(err))
	}
	if in.clientToken == "" || !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating instance: %w", err)
	}
	existing, err := h.Store.InstanceByName(ctx, c.Account, id)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		// Not in our cache yet (another replica created it a moment ago).
		existing = &koalav1.Instance{}
		if err := h.Store.Direct().Get(ctx, client.ObjectKey{Namespace: c.Account.Namespace, Name: id}, existing); err != nil {
			return nil, fmt.Errorf("reading the instance of client token %q: %w", in.clientToken, err)
		}
	}
	if existing.Annotations[koalav1.ClientTokenHashAnnotation] != digest {
		return nil, protocol.Errorf(protocol.CodeIdempotentParameterMismatch,
			"The client token '%s' was already used with different parameters", in.clientToken)
	}
	return existing, nil
}

// fromWatchCache has the API server answer a read from its watch cache, not etcd: a
// retry with a client token comes after its first request was answered or timed out,
// whose instance the API server's cache has had for long by then; a quorum read from
// etcd waits for the writes in flight, a few milliseconds of every SDK launch.
var fromWatchCache = &client.GetOptions{Raw: &metav1.GetOptions{ResourceVersion: "0"}}

// existingOfToken returns the instance a launch with a client token made under id, or
// nil.
func (h *Handlers) existingOfToken(ctx context.Context, c *action.Call, id, token string) (*koalav1.Instance, error) {
	existing, err := h.Store.InstanceByName(ctx, c.Account, id)
	if err != nil || existing != nil {
		return existing, err
	}
	existing = &koalav1.Instance{}
	if err := h.Store.Direct().Get(ctx, client.ObjectKey{Namespace: c.Account.Namespace, Name: id}, existing, fromWatchCache); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the instance of client token %q: %w", token, err)
	}
	return existing, nil
}
