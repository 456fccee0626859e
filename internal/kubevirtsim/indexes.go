package kubevirtsim

import (
	"context"
	"fmt"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	"k8s.io/apimachinery/pkg/types"
	virtv1 "kubevirt.io/api/core/v1"
	instancetypev1beta1 "kubevirt.io/api/instancetype/v1beta1"
	cdiv1 "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Cache indexes. Their names carry the package's prefix so that they never clash with
// an index the operator registers in the same manager.
const (
	// indexVMByInstancetype: VMs by the instancetype they reference (instancetypeKey).
	indexVMByInstancetype = "kubevirtsim.vm.instancetype"
	// indexVMByDataVolume: VMs by "namespace/name" of the DataVolumes their template
	// volumes reference.
	indexVMByDataVolume = "kubevirtsim.vm.datavolume"
	// indexVMIByClaim: VMIs by "namespace/name" of the PVCs (and DataVolumes) their
	// volumes use.
	indexVMIByClaim = "kubevirtsim.vmi.claim"
	// indexDVBySource: DataVolumes by what they clone or restore from:
	// "pvc:namespace/name", "snapshot:namespace/name" or "datasource:namespace/name".
	indexDVBySource = "kubevirtsim.dv.source"
	// indexDataSourceByPVC: DataSources by "namespace/name" of their source PVC.
	indexDataSourceByPVC = "kubevirtsim.datasource.pvc"
	// indexDataSourceBySnapshot: DataSources by "namespace/name" of their source
	// VolumeSnapshot.
	indexDataSourceBySnapshot = "kubevirtsim.datasource.snapshot"
	// indexVSByClaim: VolumeSnapshots by the name of their source PVC (same namespace).
	indexVSByClaim = "kubevirtsim.volumesnapshot.claim"
)

func nsName(namespace, name string) string { return namespace + "/" + name }

// instancetypeKey names an instancetype for indexVMByInstancetype.
func instancetypeKey(kind, namespace, name string) string {
	if kind == instancetypeKindNamespaced {
		return kind + "/" + namespace + "/" + name
	}
	return instancetypeKindCluster + "//" + name
}

func addIndexes(mgr ctrl.Manager) error {
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	for _, i := range []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&virtv1.VirtualMachine{}, indexVMByInstancetype, func(o client.Object) []string {
			vm := o.(*virtv1.VirtualMachine)
			if vm.Spec.Instancetype == nil || vm.Spec.Instancetype.Name == "" {
				return nil
			}
			return []string{instancetypeKey(instancetypeKind(vm.Spec.Instancetype), vm.Namespace, vm.Spec.Instancetype.Name)}
		}},
		{&virtv1.VirtualMachine{}, indexVMByDataVolume, func(o client.Object) []string {
			vm := o.(*virtv1.VirtualMachine)
			var keys []string
			for _, t := range vm.Spec.DataVolumeTemplates {
				keys = append(keys, nsName(vm.Namespace, t.Name))
			}
			if vm.Spec.Template != nil {
				for _, v := range vm.Spec.Template.Spec.Volumes {
					if v.DataVolume != nil {
						keys = append(keys, nsName(vm.Namespace, v.DataVolume.Name))
					}
				}
			}
			return keys
		}},
		{&virtv1.VirtualMachineInstance{}, indexVMIByClaim, func(o client.Object) []string {
			vmi := o.(*virtv1.VirtualMachineInstance)
			var keys []string
			for _, v := range vmi.Spec.Volumes {
				if claim := claimName(v); claim != "" {
					keys = append(keys, nsName(vmi.Namespace, claim))
				}
			}
			return keys
		}},
		{&cdiv1.DataVolume{}, indexDVBySource, func(o client.Object) []string {
			dv := o.(*cdiv1.DataVolume)
			if dv.Spec.Source != nil && dv.Spec.Source.PVC != nil {
				return []string{"pvc:" + nsName(dv.Spec.Source.PVC.Namespace, dv.Spec.Source.PVC.Name)}
			}
			if dv.Spec.Source != nil && dv.Spec.Source.Snapshot != nil {
				snap := dv.Spec.Source.Snapshot
				ns := snap.Namespace
				if ns == "" {
					ns = dv.Namespace
				}
				return []string{"snapshot:" + nsName(ns, snap.Name)}
			}
			if ref := dv.Spec.SourceRef; ref != nil && ref.Kind == cdiv1.DataVolumeDataSource {
				ns := dv.Namespace
				if ref.Namespace != nil && *ref.Namespace != "" {
					ns = *ref.Namespace
				}
				return []string{"datasource:" + nsName(ns, ref.Name)}
			}
			return nil
		}},
		{&cdiv1.DataSource{}, indexDataSourceByPVC, func(o client.Object) []string {
			ds := o.(*cdiv1.DataSource)
			if p := ds.Spec.Source.PVC; p != nil {
				return []string{nsName(p.Namespace, p.Name)}
			}
			return nil
		}},
		{&cdiv1.DataSource{}, indexDataSourceBySnapshot, func(o client.Object) []string {
			ds := o.(*cdiv1.DataSource)
			if p := ds.Spec.Source.Snapshot; p != nil {
				ns := p.Namespace
				if ns == "" {
					ns = ds.Namespace
				}
				return []string{nsName(ns, p.Name)}
			}
			return nil
		}},
		{&snapshotv1.VolumeSnapshot{}, indexVSByClaim, func(o client.Object) []string {
			vs := o.(*snapshotv1.VolumeSnapshot)
			if c := vs.Spec.Source.PersistentVolumeClaimName; c != nil && *c != "" {
				return []string{*c}
			}
			return nil
		}},
	} {
		if err := idx.IndexField(ctx, i.obj, i.field, i.fn); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", i.obj, i.field, err)
		}
	}
	return nil
}

// claimName is the PVC a VMI volume uses ("" for volumes without one).
func claimName(v virtv1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	case v.DataVolume != nil:
		return v.DataVolume.Name
	}
	return ""
}

// requestsFor lists objects of list's type with the index field = key, as requests.
func (s *simulator) requestsFor(ctx context.Context, list client.ObjectList, field, key string) []reconcile.Request {
	if err := s.client.List(ctx, list, client.MatchingFields{field: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing for a watch", "index", field, "key", key)
		return nil
	}
	var reqs []reconcile.Request
	switch l := list.(type) {
	case *virtv1.VirtualMachineList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	case *virtv1.VirtualMachineInstanceList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	case *cdiv1.DataVolumeList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	case *cdiv1.DataSourceList:
		for _, o := range l.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
		}
	}
	return reqs
}

// vmsForInstancetype maps an instancetype to the VMs that reference it.
func (s *simulator) vmsForInstancetype(ctx context.Context, o client.Object) []reconcile.Request {
	kind := instancetypeKindCluster
	if _, ok := o.(*instancetypev1beta1.VirtualMachineInstancetype); ok {
		kind = instancetypeKindNamespaced
	}
	return s.requestsFor(ctx, &virtv1.VirtualMachineList{}, indexVMByInstancetype, instancetypeKey(kind, o.GetNamespace(), o.GetName()))
}

// vmsForDataVolume maps a DataVolume to the VMs whose templates use it.
func (s *simulator) vmsForDataVolume(ctx context.Context, o client.Object) []reconcile.Request {
	return s.requestsFor(ctx, &virtv1.VirtualMachineList{}, indexVMByDataVolume, nsName(o.GetNamespace(), o.GetName()))
}

// vmisForClaim maps a PVC or DataVolume to the VMIs whose volumes use it.
func (s *simulator) vmisForClaim(ctx context.Context, o client.Object) []reconcile.Request {
	return s.requestsFor(ctx, &virtv1.VirtualMachineInstanceList{}, indexVMIByClaim, nsName(o.GetNamespace(), o.GetName()))
}

// dataVolumesCloningFrom maps a PVC or DataVolume (a DataVolume's PVC has its name) to
// the DataVolumes that clone from it, directly or through a DataSource.
func (s *simulator) dataVolumesCloningFrom(ctx context.Context, o client.Object) []reconcile.Request {
	key := nsName(o.GetNamespace(), o.GetName())
	reqs := s.requestsFor(ctx, &cdiv1.DataVolumeList{}, indexDVBySource, "pvc:"+key)
	for _, ds := range s.requestsFor(ctx, &cdiv1.DataSourceList{}, indexDataSourceByPVC, key) {
		reqs = append(reqs, s.requestsFor(ctx, &cdiv1.DataVolumeList{}, indexDVBySource, "datasource:"+ds.String())...)
	}
	return reqs
}

// dataVolumesCloningFromDataSource maps a DataSource to the DataVolumes that clone it.
func (s *simulator) dataVolumesCloningFromDataSource(ctx context.Context, o client.Object) []reconcile.Request {
	return s.requestsFor(ctx, &cdiv1.DataVolumeList{}, indexDVBySource, "datasource:"+nsName(o.GetNamespace(), o.GetName()))
}

// dataVolumesRestoringFrom maps a VolumeSnapshot to the DataVolumes that restore it,
// directly or through a DataSource.
func (s *simulator) dataVolumesRestoringFrom(ctx context.Context, o client.Object) []reconcile.Request {
	key := nsName(o.GetNamespace(), o.GetName())
	reqs := s.requestsFor(ctx, &cdiv1.DataVolumeList{}, indexDVBySource, "snapshot:"+key)
	for _, ds := range s.requestsFor(ctx, &cdiv1.DataSourceList{}, indexDataSourceBySnapshot, key) {
		reqs = append(reqs, s.requestsFor(ctx, &cdiv1.DataVolumeList{}, indexDVBySource, "datasource:"+ds.String())...)
	}
	return reqs
}

// dataSourcesForSnapshot maps a VolumeSnapshot to the DataSources whose source it is.
func (s *simulator) dataSourcesForSnapshot(ctx context.Context, o client.Object) []reconcile.Request {
	return s.requestsFor(ctx, &cdiv1.DataSourceList{}, indexDataSourceBySnapshot, nsName(o.GetNamespace(), o.GetName()))
}

// dataSourcesForClaim maps a PVC or DataVolume to the DataSources whose source it is.
func (s *simulator) dataSourcesForClaim(ctx context.Context, o client.Object) []reconcile.Request {
	return s.requestsFor(ctx, &cdiv1.DataSourceList{}, indexDataSourceByPVC, nsName(o.GetNamespace(), o.GetName()))
}
