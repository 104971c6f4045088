package policy

// restricted-volume-types admits only the volume types Pod Security
// "restricted" admits: configMap, csi, downwardAPI, emptyDir, ephemeral,
// image, persistentVolumeClaim, projected and secret. hostPath is left to
// no-host-path (refused unless allow-listed and read-only).
// Reads: the source of every spec.volumes[]. A volume with no source this
// version of the API knows is refused: the API server gives an empty source
// emptyDir before any webhook runs, so what arrives empty carries a type
// kestra-guard cannot read (fail closed, as Pod Security's "unknown").

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// RestrictedVolumeTypesID is the stable ID of restricted-volume-types.
const RestrictedVolumeTypesID = "restricted-volume-types"

var restrictedVolumeTypes = Rule{
	ID:      RestrictedVolumeTypesID,
	Since:   NextVersion,
	Summary: "volume types Pod Security restricted forbids (gitRepo, nfs, iscsi, cephfs, ...)",
	Doc: RuleDoc{
		Forbids: "volumes other than `configMap`, `csi`, `downwardAPI`, `emptyDir`, `ephemeral`, `image`, `persistentVolumeClaim`, `projected`, `secret` (and `hostPath`, which `no-host-path` judges): `gitRepo`, `nfs`, `iscsi`, `cephfs`, `rbd`, `flexVolume`, cloud disks, ..., or a volume with no type kestra-guard knows",
		Threat:  "the kubelet mounts them on the node with its own rights: `gitRepo` runs a repository's hooks there (CVE-2024-10220), network filesystems reach storage outside the namespace's claims",
		Fix:     "use a `persistentVolumeClaim` or a `csi` volume; clone repositories in the task",
	},
	Default:    Deny,
	FlowFields: nil,
	Check: func(in *Input, _ *Options) []Violation {
		var out []Violation
		for i := range in.Pod.Spec.Volumes {
			v := &in.Pod.Spec.Volumes[i]
			name, known := forbiddenVolumeType(&v.VolumeSource)
			switch {
			case name != "":
				out = append(out, Violation{Field: "spec.volumes[" + strconv.Itoa(i) + "]." + name, Reason: "volume type is forbidden",
					Detail: "volume " + strconv.Quote(v.Name) + " is of type " + name + ", which Pod Security restricted forbids; use a persistentVolumeClaim, csi, emptyDir, configMap or secret volume"})
			case !known:
				out = append(out, Violation{Field: "spec.volumes[" + strconv.Itoa(i) + "]", Reason: "volume type is unknown",
					Detail: "volume " + strconv.Quote(v.Name) + " has no volume source kestra-guard knows; use a persistentVolumeClaim, csi, emptyDir, configMap or secret volume"})
			}
		}
		return out
	},
	// The API server admits exactly one source per volume, so "has an
	// allowed source" is "has no forbidden one and a known one".
	InTree: &InTree{Checks: []CELCheck{
		{Each: "spec.volumes", Expr: `has(v.hostPath) || has(v.configMap) || has(v.csi) || has(v.downwardAPI) || has(v.emptyDir) ||
			has(v.ephemeral) || has(v.image) || has(v.persistentVolumeClaim) || has(v.projected) || has(v.secret)`, Field: "",
			Message: "volume type is forbidden: Pod Security restricted forbids it; use a persistentVolumeClaim, csi, emptyDir, configMap or secret volume"},
	}},
}

// forbiddenVolumeType returns the JSON name of the first source of s that
// restricted forbids (hostPath aside), and whether s has any source known here.
func forbiddenVolumeType(s *corev1.VolumeSource) (string, bool) {
	switch {
	case s.GCEPersistentDisk != nil:
		return "gcePersistentDisk", true
	case s.AWSElasticBlockStore != nil:
		return "awsElasticBlockStore", true
	case s.GitRepo != nil:
		return "gitRepo", true
	case s.NFS != nil:
		return "nfs", true
	case s.ISCSI != nil:
		return "iscsi", true
	case s.Glusterfs != nil:
		return "glusterfs", true
	case s.RBD != nil:
		return "rbd", true
	case s.FlexVolume != nil:
		return "flexVolume", true
	case s.Cinder != nil:
		return "cinder", true
	case s.CephFS != nil:
		return "cephfs", true
	case s.Flocker != nil:
		return "flocker", true
	case s.FC != nil:
		return "fc", true
	case s.AzureFile != nil:
		return "azureFile", true
	case s.VsphereVolume != nil:
		return "vsphereVolume", true
	case s.Quobyte != nil:
		return "quobyte", true
	case s.AzureDisk != nil:
		return "azureDisk", true
	case s.PhotonPersistentDisk != nil:
		return "photonPersistentDisk", true
	case s.PortworxVolume != nil:
		return "portworxVolume", true
	case s.ScaleIO != nil:
		return "scaleIO", true
	case s.StorageOS != nil:
		return "storageos", true
	}
	known := s.HostPath != nil || s.ConfigMap != nil || s.CSI != nil || s.DownwardAPI != nil || s.EmptyDir != nil ||
		s.Ephemeral != nil || s.Image != nil || s.PersistentVolumeClaim != nil || s.Projected != nil || s.Secret != nil
	return "", known
}
