// Package metrics exposes what a platform team puts on a dashboard about the cloud
// itself: how many instances and volumes are in each state, per account. The numbers
// are read from the operator's cache when Prometheus scrapes, so they cost nothing
// between scrapes and are never stale. (Requests to the EC2 endpoint are counted by
// the endpoint; reconcile errors by controller-runtime.)
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	koalav1 "github.com/koala-dev/koala/api/v1alpha1"
)

// Collector counts Koala resources by state.
type Collector struct {
	reader    client.Reader
	instances *prometheus.Desc
	volumes   *prometheus.Desc
}

// NewCollector reads from reader (the manager's cache).
func NewCollector(reader client.Reader) *Collector {
	return &Collector{
		reader: reader,
		instances: prometheus.NewDesc("koala_instances", "Instances by account namespace and EC2 state.",
			[]string{"namespace", "state"}, nil),
		volumes: prometheus.NewDesc("koala_volumes", "Volumes by account namespace and EC2 state.",
			[]string{"namespace", "state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.instances
	ch <- c.volumes
}

type key struct{ namespace, state string }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var insts koalav1.InstanceList
	if err := c.reader.List(ctx, &insts, client.UnsafeDisableDeepCopy); err == nil {
		counts := map[key]int{}
		for i := range insts.Items {
			state := string(insts.Items[i].Status.State)
			if state == "" {
				state = string(koalav1.InstanceStatePending)
			}
			counts[key{insts.Items[i].Namespace, state}]++
		}
		emit(ch, c.instances, counts)
	}
	var vols koalav1.VolumeList
	if err := c.reader.List(ctx, &vols, client.UnsafeDisableDeepCopy); err == nil {
		counts := map[key]int{}
		for i := range vols.Items {
			state := string(vols.Items[i].Status.State)
			if state == "" {
				state = string(koalav1.VolumeStateCreating)
			}
			counts[key{vols.Items[i].Namespace, state}]++
		}
		emit(ch, c.volumes, counts)
	}
}

func emit(ch chan<- prometheus.Metric, desc *prometheus.Desc, counts map[key]int) {
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), k.namespace, k.state)
	}
}
