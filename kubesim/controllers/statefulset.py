"""StatefulSet: ordinal pods with stable names and claims, updated in reverse order."""

from __future__ import annotations

import re

from ..resources import CONTROLLERREVISION, POD, PVC, STATEFULSET
from ..store import clone
from .base import Controller
from .meta import drop_zero, is_deleting, owner_reference, template_hash
from .pods import (
    available_at,
    is_active,
    is_available,
    is_ready,
    phase,
    pod_from_template,
)

COMPONENT = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


class StatefulSetController(Controller):
    """Create <name>-0, -1 … in order, with their claims; roll updates from the top."""

    primary = STATEFULSET
    name = "statefulset"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[POD.key] = self.on_pod

    def on_pod(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the StatefulSet that owns a changed pod."""
        self.enqueue_owner(obj, "StatefulSet")

    def reconcile(self, namespace: str, name: str) -> None:
        """Take one ordered step (or every step for Parallel), then write status."""
        sts = self.cache.get(STATEFULSET, namespace, name)
        if sts is None or is_deleting(sts):
            return
        update_revision = self._ensure_revision(sts)
        current_revision = (sts.get("status") or {}).get(
            "currentRevision"
        ) or update_revision
        pods = self._pods(sts)
        self._replace_finished(sts, pods)
        pods = self._pods(sts)
        if not self._scale(sts, pods, update_revision, current_revision):
            self._roll(sts, self._pods(sts), update_revision)
        self._write_status(namespace, name, update_revision, current_revision)

    # ----- revisions

    def _ensure_revision(self, sts: dict) -> str:
        template = (sts.get("spec") or {}).get("template") or {}
        name = f"{sts['metadata']['name']}-{template_hash(template)}"
        namespace = sts["metadata"]["namespace"]
        if self.cache.get(CONTROLLERREVISION, namespace, name) is None:
            owned = self.cache.children(sts["metadata"]["uid"], CONTROLLERREVISION)
            number = max((int(r.get("revision") or 0) for r in owned), default=0) + 1
            labels = dict(((template.get("metadata") or {}).get("labels")) or {})
            labels[REVISION_LABEL] = name
            self.ctx.create(
                CONTROLLERREVISION,
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": name,
                        "namespace": namespace,
                        "labels": labels,
                        "ownerReferences": [owner_reference(sts, STATEFULSET)],
                    },
                    "data": {
                        "spec": {"template": {**clone(template), "$patch": "replace"}}
                    },
                    "revision": number,
                },
            )
        return name

    def _template_for(self, sts: dict, revision: str) -> dict:
        stored = self.cache.get(
            CONTROLLERREVISION, sts["metadata"]["namespace"], revision
        )
        if stored is None:
            return clone(sts["spec"].get("template") or {})
        template = clone(
            ((stored.get("data") or {}).get("spec") or {}).get("template") or {}
        )
        template.pop("$patch", None)
        return template

    # ----- pods

    def _pods(self, sts: dict) -> dict[int, dict]:
        pattern = re.compile(rf"^{re.escape(sts['metadata']['name'])}-(\d+)$")
        found = {}
        for pod in self.cache.children(sts["metadata"]["uid"], POD):
            match = pattern.match(pod["metadata"]["name"])
            if match and not is_deleting(pod):
                found[int(match.group(1))] = pod
        return found

    def _replace_finished(self, sts: dict, pods: dict[int, dict]) -> None:
        for pod in pods.values():
            if phase(pod) in ("Failed", "Succeeded"):
                self.ctx.delete(POD, pod)

    def _scale(
        self,
        sts: dict,
        pods: dict[int, dict],
        update_revision: str,
        current_revision: str,
    ) -> bool:
        """Create missing ordinals or remove surplus ones; True when something moved."""
        spec = sts.get("spec") or {}
        replicas = int(
            spec.get("replicas", 1) if spec.get("replicas") is not None else 1
        )
        parallel = spec.get("podManagementPolicy") == "Parallel"
        acted = False
        for ordinal in range(replicas):
            if ordinal in pods:
                if not parallel and not _running_and_ready(pods[ordinal]):
                    return True
                continue
            partition = _partition(sts)
            revision = current_revision if ordinal < partition else update_revision
            self._create_pod(sts, ordinal, revision)
            acted = True
            if not parallel:
                return True
        surplus = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in surplus:
            if not parallel and not all(
                _running_and_ready(p) for o, p in pods.items() if o < replicas
            ):
                return True
            self._delete_pod(sts, pods[ordinal], ordinal)
            acted = True
            if not parallel:
                return True
        return acted

    def _create_pod(self, sts: dict, ordinal: int, revision: str) -> None:
        meta = sts["metadata"]
        name = f"{meta['name']}-{ordinal}"
        template = self._template_for(sts, revision)
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                REVISION_LABEL: revision,
                POD_NAME_LABEL: name,
                POD_INDEX_LABEL: str(ordinal),
            }
        )
        spec = template.setdefault("spec", {})
        spec["hostname"] = name
        if sts["spec"].get("serviceName"):
            spec["subdomain"] = sts["spec"]["serviceName"]
        self._attach_claims(sts, ordinal, spec)
        pod = pod_from_template(
            template, meta["namespace"], name, owner_reference(sts, STATEFULSET)
        )
        if self.ctx.create(POD, pod) is not None:
            self.ctx.events.record(
                sts,
                STATEFULSET,
                "Normal",
                "SuccessfulCreate",
                f"create Pod {name} in StatefulSet {meta['name']} successful",
                COMPONENT,
            )

    def _attach_claims(self, sts: dict, ordinal: int, pod_spec: dict) -> None:
        meta = sts["metadata"]
        pod_name = f"{meta['name']}-{ordinal}"
        volumes = [v for v in pod_spec.get("volumes") or []]
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            template_name = template["metadata"]["name"]
            claim_name = f"{template_name}-{meta['name']}-{ordinal}"
            volumes = [v for v in volumes if v.get("name") != template_name]
            volumes.append(
                {
                    "name": template_name,
                    "persistentVolumeClaim": {"claimName": claim_name},
                }
            )
            if self.cache.get(PVC, meta["namespace"], claim_name) is None:
                self._create_claim(sts, template, claim_name, pod_name)
        if volumes:
            pod_spec["volumes"] = volumes

    def _create_claim(
        self, sts: dict, template: dict, claim_name: str, pod_name: str
    ) -> None:
        meta = sts["metadata"]
        labels = dict((sts["spec"].get("selector") or {}).get("matchLabels") or {})
        labels.update((template.get("metadata") or {}).get("labels") or {})
        claim_meta = {
            "name": claim_name,
            "namespace": meta["namespace"],
            "labels": labels,
        }
        retention = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenDeleted") == "Delete":
            claim_meta["ownerReferences"] = [owner_reference(sts, STATEFULSET)]
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": claim_meta,
            "spec": clone(template.get("spec") or {}),
            "status": {"phase": "Pending"},
        }
        claim["spec"].setdefault("volumeMode", "Filesystem")
        if self.ctx.create(PVC, claim) is not None:
            self.ctx.events.record(
                sts,
                STATEFULSET,
                "Normal",
                "SuccessfulCreate",
                f"create Claim {claim_name} Pod {pod_name} in StatefulSet "
                f"{meta['name']} "
                "success",
                COMPONENT,
            )

    def _delete_pod(self, sts: dict, pod: dict, ordinal: int) -> None:
        meta = sts["metadata"]
        self.ctx.delete(POD, pod)
        self.ctx.events.record(
            sts,
            STATEFULSET,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {pod['metadata']['name']} in StatefulSet {meta['name']} "
            "successful",
            COMPONENT,
        )
        retention = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenScaled") != "Delete":
            return  # claims outlive scale-down unless the policy says otherwise
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            claim = self.cache.get(
                PVC,
                meta["namespace"],
                f"{template['metadata']['name']}-{meta['name']}-{ordinal}",
            )
            if claim is not None:
                self.ctx.delete(PVC, claim)

    def _roll(self, sts: dict, pods: dict[int, dict], update_revision: str) -> None:
        """Replace the highest outdated pod once every pod is running and ready."""
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return
        if not all(_running_and_ready(p) for p in pods.values()):
            return
        partition = _partition(sts)
        for ordinal in sorted(pods, reverse=True):
            pod = pods[ordinal]
            if ordinal < partition:
                break
            if (pod["metadata"].get("labels") or {}).get(
                REVISION_LABEL
            ) != update_revision:
                self._delete_pod(sts, pod, ordinal)
                return

    # ----- status

    def _write_status(
        self, namespace: str, name: str, update_revision: str, current_revision: str
    ) -> None:
        sts = self.cache.get(STATEFULSET, namespace, name)
        if sts is None:
            return
        pods = [p for p in self._pods(sts).values() if is_active(p)]
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.ctx.now()
        for pod in pods:
            since = available_at(pod, min_ready)
            if since is not None and since > now:
                self.enqueue_at((namespace, name), since)

        def revision(pod: dict) -> str | None:
            return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)

        replicas = int(
            sts["spec"].get("replicas", 1)
            if sts["spec"].get("replicas") is not None
            else 1
        )
        updated = sum(1 for p in pods if revision(p) == update_revision)
        ready = sum(1 for p in pods if is_ready(p))
        if updated == replicas and len(pods) == replicas and ready == replicas:
            current_revision = update_revision
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": sum(1 for p in pods if revision(p) == current_revision),
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": 0,
            "availableReplicas": sum(
                1 for p in pods if is_available(p, min_ready, now)
            ),
        }
        drop_zero(status, "readyReplicas", "currentReplicas", "updatedReplicas")
        self.ctx.set_status(STATEFULSET, sts, status)


def _running_and_ready(pod: dict) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def _partition(sts: dict) -> int:
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get(
        "rollingUpdate"
    ) or {}
    return int(rolling.get("partition") or 0)
