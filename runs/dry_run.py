"""Dry run: what a run would change, node by node, before anything changes.

For every manifest the workflow renders, the live object is read and the
manifest is sent as the run would send it (server-side apply, field manager
kubeorch, force) with dryRun=All: the server applies its defaults, admission
and validation and answers what the object would become, storing nothing.
The live and the would-be object are compared without what the server owns
(status, managedFields, resourceVersion, uid, timestamps, generation, the
annotations it adds), so defaults make no noise. Per object:

- create: nothing by that name yet;
- change: the fields that would change, as paths with before and after;
- unchanged;
- blocked: an object by that name that this workflow does not own (the run
  would fail the node and never touch it);
- error: the server refused the manifest (the run would fail the node);
- prune: applied by this workflow before and no longer rendered (found by
  the workflow label, never by name, as the run finds it).

Bounded in time: every request has the cluster timeout, and the dry run as
a whole a deadline after which objects not yet checked are reported as
errors. Secret values never appear: Secret data is compared and shown
masked.

`dry_run` has no Django, like the engine; `dry_run_workflow` renders a
workflow (with its sealed values opened) and connects to its cluster.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from kubernetes.client import ApiClient

from runs.engine import (
    MANAGED_BY,
    NODE_LABEL,
    PRUNABLE_KINDS,
    WORKFLOW_LABEL,
    ObjectRef,
)
from runs.kube import (
    APPLY_PATCH,
    FIELD_MANAGER,
    ClusterUnreachable,
    Discovery,
    KubeClient,
    KubeError,
    Resource,
)
from workflows.rendered import RenderedNode
from workflows.versions import Change, SecretValue, json_changes

logger = logging.getLogger(__name__)

CREATE, CHANGE, UNCHANGED = "create", "change", "unchanged"
BLOCKED, ERROR, PRUNE = "blocked", "error", "prune"

# Set by the server on every write; never a difference worth showing.
SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
)
SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)


@dataclass
class DryRunOptions:
    """Bounds of one dry run."""

    parallelism: int = 8
    request_timeout: float = 10.0
    deadline: float = 60.0
    # (apiVersion, kind) pairs prune also looks for (custom resources of
    # earlier versions), as the run's prune does.
    extra_kinds: tuple[tuple[str, str], ...] = ()


@dataclass
class ObjectPreview:
    """What a run would do to one object."""

    ref: ObjectRef
    action: str
    changes: list[Change] = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict:
        """Return the preview as JSON (secret values masked)."""
        return {
            "api_version": self.ref.api_version,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "action": self.action,
            "changes": [change.as_dict() for change in self.changes],
            "message": self.message,
        }


@dataclass
class NodePreview:
    """What a run would do to one node: its objects and one verdict."""

    node_id: str
    kind: str
    objects: list[ObjectPreview] = field(default_factory=list)

    @property
    def action(self) -> str:
        """Return the node's verdict, the worst of its objects first."""
        actions = {item.action for item in self.objects}
        for verdict in (ERROR, BLOCKED):
            if verdict in actions:
                return verdict
        if len(actions) == 1:
            return actions.pop()
        return CHANGE if actions else UNCHANGED

    def as_dict(self) -> dict:
        """Return the node's preview as JSON."""
        return {
            "node_id": self.node_id,
            "kind": self.kind,
            "action": self.action,
            "objects": [item.as_dict() for item in self.objects],
        }


@dataclass
class DryRunResult:
    """Every node's preview, and the namespaces a run would create."""

    nodes: list[NodePreview]
    namespaces_to_create: list[str]
    duration_ms: int

    def as_dict(self) -> dict:
        """Return the whole dry run as JSON."""
        summary = dict.fromkeys((CREATE, CHANGE, UNCHANGED, PRUNE, BLOCKED, ERROR), 0)
        for node in self.nodes:
            summary[node.action] += 1
        return {
            "nodes": [node.as_dict() for node in self.nodes],
            "namespaces_to_create": self.namespaces_to_create,
            "summary": summary,
            "duration_ms": self.duration_ms,
        }


@dataclass
class _Item:
    """One rendered manifest with where the cluster serves it."""

    node_id: str
    manifest: dict
    resource: Resource | None = None
    problem: str = ""

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.manifest)

    @property
    def namespace(self) -> str | None:
        return self.manifest["metadata"].get("namespace")


def dry_run(
    api_client: ApiClient,
    *,
    workflow_id: str,
    rendered: list[RenderedNode],
    options: DryRunOptions | None = None,
) -> DryRunResult:
    """Preview a deploy of rendered nodes against the live cluster.

    Raises ClusterUnreachable when the cluster does not answer.
    """
    options = options or DryRunOptions()
    started = time.monotonic()
    kube = KubeClient(
        api_client, timeout=options.request_timeout, pool_size=options.parallelism + 2
    )
    try:
        kube.version()
        preview = _Preview(kube, workflow_id, rendered, options, started)
        nodes, missing = preview.run()
    finally:
        kube.close()
    duration = int((time.monotonic() - started) * 1000)
    logger.info(
        "dry run of workflow %s: %s nodes in %s ms", workflow_id, len(nodes), duration
    )
    return DryRunResult(nodes, missing, duration)


class _Preview:
    """The state of one dry run while it runs."""

    def __init__(self, kube, workflow_id, rendered, options, started) -> None:
        self.kube = kube
        self.discovery = Discovery(kube)
        self.workflow_id = workflow_id
        self.rendered = rendered
        self.options = options
        self.deadline = started + options.deadline
        self.missing_namespaces: set[str] = set()

    def run(self) -> tuple[list[NodePreview], list[str]]:
        """Place every manifest, preview each, find what would be pruned."""
        items = [
            self._place(node.node_id, m)
            for node in self.rendered
            for m in node.manifests
        ]
        placed = [item for item in items if item.resource is not None]
        self.missing_namespaces = self._missing_namespaces(placed)
        with ThreadPoolExecutor(
            max(1, self.options.parallelism), thread_name_prefix="kubeorch-dry-run"
        ) as pool:
            previews = self._preview_all(pool, items)
            pruned = self._prune_candidates(pool, placed)
        rendered_namespaces = {
            item.ref.name for item in placed if item.ref.kind == "Namespace"
        }
        to_create = sorted(self.missing_namespaces - rendered_namespaces)
        return self._group(items, previews, pruned), to_create

    # -- placing --------------------------------------------------------------

    def _place(self, node_id: str, manifest: dict) -> _Item:
        """Return a manifest as the run applies it: namespace and labels set."""
        # TODO(dry-run-shared-rules): this and _prunable mirror the engine's
        # private _place and _Pruner._doomed; the engine should expose them.
        item = _Item(node_id, copy.deepcopy(manifest))
        try:
            item.resource = self.discovery.resolve(
                manifest.get("apiVersion", ""), manifest.get("kind", "")
            )
        except ClusterUnreachable:
            raise
        except KubeError as error:
            item.problem = error.describe()
            return item
        meta = item.manifest.setdefault("metadata", {})
        if item.resource.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        meta["labels"] = {
            **(meta.get("labels") or {}),
            MANAGED_BY: "kubeorch",
            WORKFLOW_LABEL: self.workflow_id,
            NODE_LABEL: node_id,
        }
        return item

    def _missing_namespaces(self, placed: list[_Item]) -> set[str]:
        needed = {item.namespace for item in placed if item.namespace}
        if not needed:
            return set()
        namespace = self.discovery.resolve("v1", "Namespace")
        listed = self.kube.list(namespace, metadata_only=True)
        return needed - {item["metadata"]["name"] for item in listed}

    # -- previewing -------------------------------------------------------------

    def _preview_all(self, pool, items: list[_Item]) -> dict[int, ObjectPreview]:
        """Preview every object in parallel, within the deadline."""
        futures = {
            pool.submit(self._preview, item): index for index, item in enumerate(items)
        }
        done, late = wait(futures, timeout=max(0.0, self.deadline - time.monotonic()))
        previews = {}
        for future in done:
            previews[futures[future]] = future.result()
        for future in late:
            future.cancel()
            item = items[futures[future]]
            previews[futures[future]] = ObjectPreview(
                item.ref,
                ERROR,
                message=f"not checked: the dry run took longer than "
                f"{self.options.deadline:g} s",
            )
        return previews

    def _preview(self, item: _Item) -> ObjectPreview:
        """Compare one live object with what a run would make of it."""
        if item.resource is None:
            return ObjectPreview(item.ref, ERROR, message=item.problem)
        if item.namespace in self.missing_namespaces:
            return ObjectPreview(
                item.ref, CREATE, message=f"namespace {item.namespace} is created first"
            )
        path = item.resource.object_path(item.namespace, item.ref.name)
        try:
            live = self._get(path)
            if live is not None and not self._owned(item, live):
                return ObjectPreview(
                    item.ref,
                    BLOCKED,
                    message="exists and is not managed by this workflow; a run "
                    "would fail this node and leave the object alone",
                )
            would_be = self.kube.request(
                "PATCH",
                path,
                query={"fieldManager": FIELD_MANAGER, "force": "true", "dryRun": "All"},
                body=item.manifest,
                content_type=APPLY_PATCH,
            )
        except ClusterUnreachable:
            raise
        except KubeError as error:
            return ObjectPreview(item.ref, ERROR, message=error.describe())
        if live is None:
            return ObjectPreview(item.ref, CREATE)
        changes = json_changes(comparable_object(live), comparable_object(would_be))
        return ObjectPreview(item.ref, CHANGE if changes else UNCHANGED, changes)

    def _get(self, path: str) -> dict | None:
        try:
            return self.kube.request("GET", path)
        except KubeError as error:
            if error.code == 404 and not isinstance(error, ClusterUnreachable):
                return None
            raise

    def _owned(self, item: _Item, live: dict) -> bool:
        """Tell whether the run may write over a live object, as the engine does."""
        labels = live.get("metadata", {}).get("labels") or {}
        if labels.get(WORKFLOW_LABEL) == self.workflow_id:
            return True
        # A namespace KubeOrch created for some workflow and no node owns yet.
        return (
            item.ref.kind == "Namespace"
            and labels.get(MANAGED_BY) == "kubeorch"
            and WORKFLOW_LABEL not in labels
        )

    # -- pruning ------------------------------------------------------------------

    def _prune_candidates(self, pool, placed: list[_Item]) -> list[dict]:
        """Return the live objects of this workflow a run would delete."""
        resources = self._prunable_resources(placed)
        selector = f"{WORKFLOW_LABEL}={self.workflow_id}"
        listed = pool.map(lambda r: self._list_owned(r, selector), resources)
        live = [obj for items in listed for obj in items]
        keep = {item.ref.key for item in placed}
        claims = _claim_patterns([o for o in live if o["kind"] == "StatefulSet"])
        return [obj for obj in live if _prunable(obj, keep, claims, self.workflow_id)]

    def _list_owned(self, resource: Resource, selector: str) -> list[dict]:
        try:
            return self.kube.list(
                resource,
                label_selector=selector,
                metadata_only=resource.kind != "StatefulSet",
            )
        except ClusterUnreachable:
            raise
        except KubeError as error:
            logger.warning("dry run could not list %s: %s", resource.plural, error)
            return []

    def _prunable_resources(self, placed: list[_Item]) -> list[Resource]:
        kinds = [*PRUNABLE_KINDS, *self.options.extra_kinds]
        kinds += [(item.resource.api_version, item.resource.kind) for item in placed]
        resources = []
        for api_version, kind in dict.fromkeys(kinds):
            try:
                resources.append(self.discovery.resolve(api_version, kind))
            except ClusterUnreachable:
                raise
            except KubeError:
                continue  # not served by this cluster: nothing of it to prune
        return list(dict.fromkeys(resources))

    # -- grouping -------------------------------------------------------------------

    def _group(self, items, previews, pruned) -> list[NodePreview]:
        """Return one preview per rendered node, then nodes only left to prune."""
        nodes = {
            node.node_id: NodePreview(node.node_id, node.kind) for node in self.rendered
        }
        for index, item in enumerate(items):
            nodes[item.node_id].objects.append(previews[index])
        for obj in pruned:
            ref = ObjectRef.of(obj)
            node = nodes.setdefault(ref.node_id, NodePreview(ref.node_id, ""))
            node.objects.append(
                ObjectPreview(ref, PRUNE, message="no longer in the workflow")
            )
        return list(nodes.values())


def comparable_object(obj: dict) -> dict:
    """Return an object without what the server owns, Secret data wrapped."""
    clean = {key: value for key, value in obj.items() if key != "status"}
    meta = {
        key: value
        for key, value in (obj.get("metadata") or {}).items()
        if key not in SERVER_METADATA
    }
    annotations = {
        key: value
        for key, value in (meta.get("annotations") or {}).items()
        if key not in SERVER_ANNOTATIONS
    }
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    clean["metadata"] = meta
    if obj.get("kind") == "Secret":
        for key in ("data", "stringData"):
            if isinstance(obj.get(key), dict):
                clean[key] = {k: SecretValue(str(v)) for k, v in obj[key].items()}
    return clean


def _prunable(obj: dict, keep: set, claims: list[re.Pattern], workflow_id) -> bool:
    """Tell whether a run's prune would delete a listed object."""
    ref = ObjectRef.of(obj)
    meta = obj.get("metadata") or {}
    if ref.key in keep or (meta.get("labels") or {}).get(WORKFLOW_LABEL) != workflow_id:
        return False
    if any(owner.get("controller") for owner in meta.get("ownerReferences") or []):
        return False  # deleted with its owner
    if ref.kind == "PersistentVolumeClaim":
        # A StatefulSet's data claims are kept, as Kubernetes keeps them.
        return not any(pattern.match(ref.name) for pattern in claims)
    return ref.kind != "Event"


def _claim_patterns(statefulsets: list[dict]) -> list[re.Pattern]:
    """Return the name patterns of claims made from volumeClaimTemplates."""
    patterns = []
    for sts in statefulsets:
        name = sts["metadata"]["name"]
        for template in sts.get("spec", {}).get("volumeClaimTemplates") or []:
            claim = template.get("metadata", {}).get("name", "")
            patterns.append(re.compile(rf"^{re.escape(claim)}-{re.escape(name)}-\d+$"))
    return patterns


def dry_run_workflow(workflow, *, version=None) -> dict:
    """Preview a run of a workflow's canvas (or one version) on its cluster.

    Raises CanvasInvalid for a canvas that does not render, SealError when a
    secret value cannot be opened, ClusterUnreachable when the cluster does
    not answer.
    """
    from django.conf import settings

    from clusters.connection import connect
    from kubeorch import crypto
    from workflows.actions import custom_kinds
    from workflows.lint import lint_canvas
    from workflows.render import render_canvas

    nodes, edges = (
        (version.nodes, version.edges) if version else (workflow.nodes, workflow.edges)
    )
    findings = lint_canvas(nodes, edges, namespace=workflow.namespace)
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=str(workflow.pk),
        namespace=workflow.namespace,
        reveal=crypto.unseal,
    )
    options = DryRunOptions(
        parallelism=settings.KUBEORCH_APPLY_PARALLELISM,
        request_timeout=settings.KUBEORCH_KUBE_TIMEOUT,
        deadline=settings.KUBEORCH_DRY_RUN_DEADLINE,
        extra_kinds=tuple(sorted(custom_kinds(workflow))),
    )
    with connect(workflow.cluster) as api_client:
        result = dry_run(
            api_client, workflow_id=str(workflow.pk), rendered=rendered, options=options
        )
    return {
        "workflow_id": str(workflow.pk),
        "revision": workflow.revision,
        "version": version.number if version else None,
        **result.as_dict(),
        "run_would_stop": any(f.level == "error" for f in findings),
        "lint": [
            {
                "level": f.level,
                "node_id": f.node_id,
                "code": f.code,
                "message": f.message,
            }
            for f in findings
        ],
    }
