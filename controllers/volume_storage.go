package controllers

import (
	"flag"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// StorageConfig is how volumes and snapshots map to the cluster's storage: a
// StorageClass per EBS volume type, a default class for the types it does not name, and
// the VolumeSnapshotClass of snapshots (per type too, since each type's StorageClass may
// have a CSI driver of its own). Empty names mean the cluster's defaults (the default
// StorageClass, the default VolumeSnapshotClass of the claim's driver).
type StorageConfig struct {
	// Classes maps volume types to StorageClass names.
	Classes map[koalav1.VolumeType]string
	// DefaultClass is the StorageClass of the types Classes does not name.
	DefaultClass string
	// SnapshotClasses maps the type of a snapshot's volume to a VolumeSnapshotClass.
	SnapshotClasses map[koalav1.VolumeType]string
	// SnapshotClass is the VolumeSnapshotClass of the snapshots of the types
	// SnapshotClasses does not name.
	SnapshotClass string
}

// SnapshotClassName is the VolumeSnapshotClass of a snapshot of a volume of type t;
// "" is the default class of the claim's driver.
func (c StorageConfig) SnapshotClassName(t koalav1.VolumeType) string {
	if name, ok := c.SnapshotClasses[t]; ok && name != "" {
		return name
	}
	return c.SnapshotClass
}

// ClassName is the StorageClass of a volume type; "" is the cluster's default.
func (c StorageConfig) ClassName(t koalav1.VolumeType) string {
	if name, ok := c.Classes[t]; ok && name != "" {
		return name
	}
	return c.DefaultClass
}

// storageClassName is ClassName as a claim's storageClassName: nil for the cluster's
// default.
func (c StorageConfig) storageClassName(t koalav1.VolumeType) *string {
	if name := c.ClassName(t); name != "" {
		return &name
	}
	return nil
}

// ParseVolumeClasses reads a flag value such as "gp3=fast-ssd,gp2=fast-ssd,st1=hdd" into
// Classes. Every key must be an EBS volume type.
func ParseVolumeClasses(s string) (map[koalav1.VolumeType]string, error) {
	return parseTypeMap(s, "StorageClass")
}

// parseTypeMap reads "<volume type>=<what>,..." into a map.
func parseTypeMap(s, what string) (map[koalav1.VolumeType]string, error) {
	out := map[koalav1.VolumeType]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		t, class, ok := strings.Cut(pair, "=")
		if !ok || class == "" {
			return nil, fmt.Errorf("%q is not <volume type>=<%s>", pair, what)
		}
		vt := koalav1.VolumeType(strings.TrimSpace(t))
		if !knownVolumeType(vt) {
			return nil, fmt.Errorf("%q is not an EBS volume type (one of %s)", t, strings.Join(volumeTypeNames(), ", "))
		}
		out[vt] = strings.TrimSpace(class)
	}
	return out, nil
}

var volumeTypes = []koalav1.VolumeType{
	koalav1.VolumeTypeGP3, koalav1.VolumeTypeGP2, koalav1.VolumeTypeIO1, koalav1.VolumeTypeIO2,
	koalav1.VolumeTypeST1, koalav1.VolumeTypeSC1, koalav1.VolumeTypeStandard,
}

func knownVolumeType(t koalav1.VolumeType) bool {
	for _, v := range volumeTypes {
		if v == t {
			return true
		}
	}
	return false
}

func volumeTypeNames() []string {
	out := make([]string, len(volumeTypes))
	for i, t := range volumeTypes {
		out[i] = string(t)
	}
	sort.Strings(out)
	return out
}

// quantityGiB is n GiB as a resource quantity.
func quantityGiB(n int32) *resource.Quantity {
	return resource.NewQuantity(int64(n)*gib, resource.BinarySI)
}

// BindFlags defines the operator's storage flags on fs: -volume-storage-classes
// ("gp3=fast-ssd,st1=hdd"), -default-storage-class, -volume-snapshot-classes
// ("gp3=fast-ssd-snaps") and -snapshot-class.
func (c *StorageConfig) BindFlags(fs *flag.FlagSet) {
	fs.Var(volumeClassesFlag{&c.Classes, "StorageClass"}, "volume-storage-classes",
		"StorageClass of each EBS volume type, as gp3=<class>,gp2=<class>,...; types not named use -default-storage-class.")
	fs.StringVar(&c.DefaultClass, "default-storage-class", "", "StorageClass of the volume types -volume-storage-classes does not name (default: the cluster's default class).")
	fs.Var(volumeClassesFlag{&c.SnapshotClasses, "VolumeSnapshotClass"}, "volume-snapshot-classes",
		"VolumeSnapshotClass of the snapshots of each EBS volume type, as gp3=<class>,...; types not named use -snapshot-class.")
	fs.StringVar(&c.SnapshotClass, "snapshot-class", "", "VolumeSnapshotClass of the EBS snapshots of the types -volume-snapshot-classes does not name (default: the default class of the claim's CSI driver).")
}

// volumeClassesFlag is -volume-storage-classes or -volume-snapshot-classes.
type volumeClassesFlag struct {
	m    *map[koalav1.VolumeType]string
	what string
}

func (f volumeClassesFlag) String() string {
	if f.m == nil {
		return ""
	}
	var parts []string
	for t, c := range *f.m {
		parts = append(parts, string(t)+"="+c)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (f volumeClassesFlag) Set(s string) error {
	m, err := parseTypeMap(s, f.what)
	if err != nil {
		return err
	}
	*f.m = m
	return nil
}
