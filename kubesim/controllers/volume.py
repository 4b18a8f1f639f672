"""PersistentVolumeClaims: provision and bind, or explain why they stay Pending."""

from __future__ import annotations

from ..resources import PV, PVC, STORAGECLASS
from ..store import clone
from .base import Controller
from .meta import is_deleting, seconds_of
from .quantities import quantity_or_zero

COMPONENT = "persistentvolume-controller"
PROVISIONER = "kubesim.io/hostpath"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
DEFAULT_SIZE = "1Gi"


class ClaimController(Controller):
    """Bind each claim to a matching volume, provisioning one when its class can."""

    primary = PVC
    name = "persistentvolumeclaim"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[STORAGECLASS.key] = self.on_class
        self.watches[PV.key] = self.on_volume

    def on_class(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Retry every claim that is not bound yet."""
        for claim in self.cache.list(PVC):
            if (claim.get("status") or {}).get("phase") != "Bound":
                self.enqueue_obj(claim)

    def on_volume(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the claim a volume points at, and unbound claims (static binding)."""
        ref = (obj.get("spec") or {}).get("claimRef")
        if ref:
            self.enqueue((ref.get("namespace", ""), ref.get("name", "")))
        self.on_class(event_type, obj, old)

    def reconcile(self, namespace: str, name: str) -> None:
        """Move the claim towards Bound, or record why it waits."""
        claim = self.cache.get(PVC, namespace, name)
        if claim is None or is_deleting(claim):
            return
        if (claim.get("status") or {}).get("phase") == "Bound":
            self._check_still_bound(claim)
            return
        spec = claim.get("spec") or {}
        if spec.get("storageClassName") is None and self._default_class() is not None:
            self._assign_default_class(claim)
            return
        volume = self._matching_volume(claim)
        if volume is not None:
            self._bind(claim, volume)
            return
        self._provision_or_wait(claim)

    def _provision_or_wait(self, claim: dict) -> None:
        class_name = (claim.get("spec") or {}).get("storageClassName")
        if not class_name:
            self._pending(
                claim,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage "
                "class is set",
            )
            return
        storage_class = self.cache.get(STORAGECLASS, None, class_name)
        if storage_class is None:
            self._pending(
                claim,
                "Warning",
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{class_name}" not found',
            )
            return
        provisioner = storage_class.get("provisioner")
        selected = (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        if (
            storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"
            and not selected
        ):
            self._pending(
                claim,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            )
            return
        if provisioner != PROVISIONER:
            self._pending(
                claim,
                "Normal",
                "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external "
                f"provisioner '{provisioner}' or manually by the system "
                f"administrator. If volume creation is delayed, please verify "
                f"that the provisioner is running and correctly registered.",
            )
            return
        due = (seconds_of(claim["metadata"].get("creationTimestamp")) or 0.0) + (
            self.ctx.delays.volume_bind
        )
        if due > self.ctx.now():
            self._pending(claim, None, None, None)
            self.enqueue_at(
                (claim["metadata"]["namespace"], claim["metadata"]["name"]), due
            )
            return
        volume = self._provision(claim, storage_class, selected)
        if volume is not None:
            self._bind(claim, volume)

    def _pending(self, claim: dict, event_type, reason, message) -> None:
        status = dict(claim.get("status") or {})
        status["phase"] = "Pending"
        self.ctx.set_status(PVC, claim, status)
        if reason:
            self.ctx.events.record_once(
                claim, PVC, event_type, reason, message, COMPONENT
            )

    def _default_class(self) -> dict | None:
        for storage_class in sorted(
            self.cache.list(STORAGECLASS),
            key=lambda c: c["metadata"]["creationTimestamp"],
        ):
            annotations = storage_class["metadata"].get("annotations") or {}
            if annotations.get(DEFAULT_CLASS) == "true":
                return storage_class
        return None

    def _assign_default_class(self, claim: dict) -> None:
        # What the DefaultStorageClass admission (and its retroactive pass) does.
        updated = clone(claim)
        updated["spec"]["storageClassName"] = self._default_class()["metadata"]["name"]
        self.ctx.update(PVC, updated)

    def _matching_volume(self, claim: dict) -> dict | None:
        spec = claim.get("spec") or {}
        if spec.get("volumeName"):
            volume = self.cache.get(PV, None, spec["volumeName"])
            return volume if volume is not None and _free_for(volume, claim) else None
        wanted = quantity_or_zero(_requested(claim))
        modes = set(spec.get("accessModes") or [])
        for volume in sorted(self.cache.list(PV), key=lambda v: v["metadata"]["name"]):
            vspec = volume.get("spec") or {}
            if not _free_for(volume, claim):
                continue
            if (vspec.get("storageClassName") or "") != (
                spec.get("storageClassName") or ""
            ):
                continue
            if quantity_or_zero((vspec.get("capacity") or {}).get("storage")) < wanted:
                continue
            if not modes <= set(vspec.get("accessModes") or []):
                continue
            return volume
        return None

    def _provision(
        self, claim: dict, storage_class: dict, node: str | None
    ) -> dict | None:
        meta = claim["metadata"]
        spec = claim.get("spec") or {}
        name = f"pvc-{meta['uid']}"
        volume_spec = {
            "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": _requested(claim)},
            "claimRef": _claim_ref(claim),
            "hostPath": {
                "path": f"/var/lib/kubesim/volumes/{name}",
                "type": "DirectoryOrCreate",
            },
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy")
            or "Delete",
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": spec.get("volumeMode") or "Filesystem",
        }
        if node:
            volume_spec["nodeAffinity"] = {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            }
        self.ctx.events.record_once(
            claim,
            PVC,
            "Normal",
            "Provisioning",
            f"External provisioner is provisioning volume for claim "
            f'"{meta["namespace"]}/{meta["name"]}"',
            PROVISIONER,
        )
        volume = self.ctx.create(
            PV,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {
                    "name": name,
                    "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                    "finalizers": ["kubernetes.io/pv-protection"],
                },
                "spec": volume_spec,
                "status": {"phase": "Pending"},
            },
        ) or self.cache.get(PV, None, name)
        if volume is not None:
            self.ctx.events.record(
                claim,
                PVC,
                "Normal",
                "ProvisioningSucceeded",
                f"Successfully provisioned volume {name}",
                PROVISIONER,
            )
        return volume

    def _bind(self, claim: dict, volume: dict) -> None:
        volume_name = volume["metadata"]["name"]
        bound_volume = clone(volume)
        bound_volume["spec"]["claimRef"] = _claim_ref(claim)
        annotations = bound_volume["metadata"].setdefault("annotations", {})
        annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
        volume = self.ctx.update(PV, bound_volume) or volume
        self.ctx.set_status(PV, volume, {"phase": "Bound"})
        updated = clone(claim)
        updated["spec"]["volumeName"] = volume_name
        annotations = updated["metadata"].setdefault("annotations", {})
        annotations["pv.kubernetes.io/bind-completed"] = "yes"
        annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
        provisioner = (volume["metadata"].get("annotations") or {}).get(
            "pv.kubernetes.io/provisioned-by"
        )
        if provisioner:
            annotations["volume.beta.kubernetes.io/storage-provisioner"] = provisioner
            annotations["volume.kubernetes.io/storage-provisioner"] = provisioner
        claim = self.ctx.update(PVC, updated) or claim
        vspec = volume.get("spec") or {}
        self.ctx.set_status(
            PVC,
            claim,
            {
                "phase": "Bound",
                "accessModes": list(vspec.get("accessModes") or []),
                "capacity": dict(vspec.get("capacity") or {}),
            },
        )

    def _check_still_bound(self, claim: dict) -> None:
        volume = self.cache.get(
            PV, None, (claim.get("spec") or {}).get("volumeName", "")
        )
        if volume is None:
            self.ctx.set_status(
                PVC, claim, {**(claim.get("status") or {}), "phase": "Lost"}
            )
            self.ctx.events.record_once(
                claim,
                PVC,
                "Warning",
                "ClaimLost",
                "Bound claim has lost its PersistentVolume. Data on the volume is "
                "lost!",
                COMPONENT,
            )


class VolumeController(Controller):
    """Keep each PersistentVolume's phase; reclaim it when its claim is gone."""

    primary = PV
    name = "persistentvolume"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[PVC.key] = self.on_claim

    def on_claim(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the volumes that point at a changed claim."""
        uid = obj["metadata"]["uid"]
        for volume in self.cache.list(PV):
            if ((volume.get("spec") or {}).get("claimRef") or {}).get("uid") == uid:
                self.enqueue_obj(volume)

    def reconcile(self, namespace: str, name: str) -> None:
        """Set Available, Bound or Released; delete a released Delete-policy volume."""
        volume = self.cache.get(PV, None, name)
        if volume is None:
            return
        ref = (volume.get("spec") or {}).get("claimRef")
        if is_deleting(volume):
            self._release_finalizer(volume, ref)
            return
        if not ref:
            self._phase(volume, "Available")
            return
        claim = self.cache.get(PVC, ref.get("namespace"), ref.get("name", ""))
        if claim is not None and (
            not ref.get("uid") or claim["metadata"]["uid"] == ref["uid"]
        ):
            if (claim.get("spec") or {}).get("volumeName") == name:
                self._phase(volume, "Bound")
            return
        if (
            volume["spec"].get("persistentVolumeReclaimPolicy") or "Retain"
        ) == "Delete":
            self.ctx.delete(PV, volume)
            return
        self._phase(volume, "Released")

    def _phase(self, volume: dict, phase: str) -> None:
        self.ctx.set_status(
            PV, volume, {**(volume.get("status") or {}), "phase": phase}
        )

    def _release_finalizer(self, volume: dict, ref: dict | None) -> None:
        """Let a deleted volume go once no claim uses it (pv-protection)."""
        if ref:
            claim = self.cache.get(PVC, ref.get("namespace"), ref.get("name", ""))
            if claim is not None and claim["metadata"]["uid"] == ref.get("uid"):
                return
        finalizers = volume["metadata"].get("finalizers") or []
        if "kubernetes.io/pv-protection" in finalizers:
            updated = clone(volume)
            updated["metadata"]["finalizers"] = [
                f for f in finalizers if f != "kubernetes.io/pv-protection"
            ]
            self.ctx.update(PV, updated)


def _requested(claim: dict) -> str:
    resources = (claim.get("spec") or {}).get("resources") or {}
    return str((resources.get("requests") or {}).get("storage") or DEFAULT_SIZE)


def _claim_ref(claim: dict) -> dict:
    meta = claim["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta["uid"],
        "resourceVersion": meta.get("resourceVersion"),
    }


def _free_for(volume: dict, claim: dict) -> bool:
    ref = (volume.get("spec") or {}).get("claimRef")
    if is_deleting(volume):
        return False
    if not ref:
        return (volume.get("status") or {}).get("phase") in (None, "Available")
    return (
        ref.get("name") == claim["metadata"]["name"]
        and ref.get("namespace") == (claim["metadata"]["namespace"])
        and ref.get("uid") in (None, claim["metadata"]["uid"])
    )
