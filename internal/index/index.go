// Package index declares the cache field indexes that the operator and the EC2 endpoint
// look Koala objects up by, so that no lookup lists and scans.
package index

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// Index names.
const (
	// EC2ID indexes Instances, Images and KeyPairs by their EC2 ID.
	EC2ID = "koala.ec2id"
	// ImageID indexes Instances by spec.imageId.
	ImageID = "koala.spec.imageId"
	// InstanceType indexes Instances by spec.instanceType.
	InstanceType = "koala.spec.instanceType"
	// KeyName indexes Instances by spec.keyName and KeyPairs by their key name.
	KeyName = "koala.keyName"
	// Tag indexes Instances by each of their tags, as TagValue(key, value).
	Tag = "koala.tag"
)

// TagValue is the Tag index's value for one tag. Two tags that render alike (a NUL in a
// key) only widen a lookup's candidates: the filter that follows still decides.
func TagValue(key, value string) string { return key + "\x00" + value }

// Setup registers the field indexes with the manager's cache. Call it once,
// before the cache starts.
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	type index struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}
	indexes := []index{
		{&koalav1.Instance{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).EC2ID()) }},
		{&koalav1.Image{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Image).EC2ID()) }},
		{&koalav1.KeyPair{}, EC2ID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.KeyPair).EC2ID()) }},
		{&koalav1.Instance{}, ImageID, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).Spec.ImageID) }},
		{&koalav1.Instance{}, InstanceType, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).Spec.InstanceType) }},
		{&koalav1.Instance{}, KeyName, func(o client.Object) []string { return nonEmpty(o.(*koalav1.Instance).Spec.KeyName) }},
		{&koalav1.KeyPair{}, KeyName, func(o client.Object) []string { return nonEmpty(o.(*koalav1.KeyPair).KeyName()) }},
		{&koalav1.Instance{}, Tag, func(o client.Object) []string {
			tags := o.(*koalav1.Instance).Spec.Tags
			out := make([]string, 0, len(tags))
			for k, v := range tags {
				out = append(out, TagValue(k, v))
			}
			return out
		}},
	}
	for _, ix := range indexes {
		if err := indexer.IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
