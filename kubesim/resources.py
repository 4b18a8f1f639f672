"""The resource types kubesim serves, and lookup by kind or plural."""

import threading
from dataclasses import dataclass, field

STANDARD_VERBS = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)


@dataclass(frozen=True)
class ResourceType:
    """One served kind at one group/version."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # Whether metadata.generation tracks spec changes for this kind.
    has_generation: bool = True
    verbs: tuple[str, ...] = field(default=STANDARD_VERBS, compare=False)

    @property
    def api_version(self) -> str:
        """Return "v1" for core, "group/version" otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        """Return the singular resource name (the kind in lower case)."""
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """Return the storage key: objects of every version share (group, kind)."""
        return (self.group, self.kind)

    @property
    def has_status(self) -> bool:
        """Return whether status is a separate subresource for this kind."""
        return "status" in self.subresources

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _core(kind, plural, namespaced=True, short=(), sub=(), gen=True, cats=()):
    return ResourceType("", "v1", kind, plural, namespaced, short, sub, cats, gen)


def _grp(
    group, version, kind, plural, namespaced=True, short=(), sub=(), gen=True, cats=()
):
    return ResourceType(group, version, kind, plural, namespaced, short, sub, cats, gen)


ALL = ("all",)

POD = _core("Pod", "pods", short=("po",), sub=("status", "log", "exec"), cats=ALL)
SERVICE = _core(
    "Service", "services", short=("svc",), sub=("status",), gen=False, cats=ALL
)
ENDPOINTS = _core("Endpoints", "endpoints", short=("ep",), gen=False)
CONFIGMAP = _core("ConfigMap", "configmaps", short=("cm",), gen=False)
SECRET = _core("Secret", "secrets", gen=False)
PVC = _core(
    "PersistentVolumeClaim",
    "persistentvolumeclaims",
    short=("pvc",),
    sub=("status",),
    gen=False,
)
PV = _core(
    "PersistentVolume",
    "persistentvolumes",
    namespaced=False,
    short=("pv",),
    sub=("status",),
    gen=False,
)
NAMESPACE = _core(
    "Namespace",
    "namespaces",
    namespaced=False,
    short=("ns",),
    sub=("status",),
    gen=False,
)
NODE = _core(
    "Node", "nodes", namespaced=False, short=("no",), sub=("status",), gen=False
)
EVENT = _core("Event", "events", short=("ev",), gen=False)
SERVICEACCOUNT = _core("ServiceAccount", "serviceaccounts", short=("sa",), gen=False)
LIMITRANGE = _core("LimitRange", "limitranges", short=("limits",), gen=False)
RESOURCEQUOTA = _core(
    "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",), gen=False
)

DEPLOYMENT = _grp(
    "apps",
    "v1",
    "Deployment",
    "deployments",
    short=("deploy",),
    sub=("status", "scale"),
    cats=ALL,
)
REPLICASET = _grp(
    "apps",
    "v1",
    "ReplicaSet",
    "replicasets",
    short=("rs",),
    sub=("status", "scale"),
    cats=ALL,
)
STATEFULSET = _grp(
    "apps",
    "v1",
    "StatefulSet",
    "statefulsets",
    short=("sts",),
    sub=("status", "scale"),
    cats=ALL,
)
DAEMONSET = _grp(
    "apps", "v1", "DaemonSet", "daemonsets", short=("ds",), sub=("status",), cats=ALL
)
CONTROLLERREVISION = _grp(
    "apps", "v1", "ControllerRevision", "controllerrevisions", gen=False
)
JOB = _grp("batch", "v1", "Job", "jobs", sub=("status",), cats=ALL)
CRONJOB = _grp(
    "batch", "v1", "CronJob", "cronjobs", short=("cj",), sub=("status",), cats=ALL
)
INGRESS = _grp(
    "networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)
)
INGRESSCLASS = _grp(
    "networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False
)
NETWORKPOLICY = _grp(
    "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)
)
ENDPOINTSLICE = _grp(
    "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", gen=False
)
STORAGECLASS = _grp(
    "storage.k8s.io",
    "v1",
    "StorageClass",
    "storageclasses",
    namespaced=False,
    short=("sc",),
    gen=False,
)
HPA = _grp(
    "autoscaling",
    "v2",
    "HorizontalPodAutoscaler",
    "horizontalpodautoscalers",
    short=("hpa",),
    sub=("status",),
    cats=ALL,
)
PDB = _grp(
    "policy",
    "v1",
    "PodDisruptionBudget",
    "poddisruptionbudgets",
    short=("pdb",),
    sub=("status",),
)
ROLE = _grp("rbac.authorization.k8s.io", "v1", "Role", "roles", gen=False)
ROLEBINDING = _grp(
    "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", gen=False
)
CLUSTERROLE = _grp(
    "rbac.authorization.k8s.io",
    "v1",
    "ClusterRole",
    "clusterroles",
    namespaced=False,
    gen=False,
)
CLUSTERROLEBINDING = _grp(
    "rbac.authorization.k8s.io",
    "v1",
    "ClusterRoleBinding",
    "clusterrolebindings",
    namespaced=False,
    gen=False,
)
LEASE = _grp("coordination.k8s.io", "v1", "Lease", "leases", gen=False)
CRD = _grp(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    namespaced=False,
    short=("crd", "crds"),
    sub=("status",),
)

BUILTINS: tuple[ResourceType, ...] = (
    POD,
    SERVICE,
    ENDPOINTS,
    CONFIGMAP,
    SECRET,
    PVC,
    PV,
    NAMESPACE,
    NODE,
    EVENT,
    SERVICEACCOUNT,
    LIMITRANGE,
    RESOURCEQUOTA,
    DEPLOYMENT,
    REPLICASET,
    STATEFULSET,
    DAEMONSET,
    CONTROLLERREVISION,
    JOB,
    CRONJOB,
    INGRESS,
    INGRESSCLASS,
    NETWORKPOLICY,
    ENDPOINTSLICE,
    STORAGECLASS,
    HPA,
    PDB,
    ROLE,
    ROLEBINDING,
    CLUSTERROLE,
    CLUSTERROLEBINDING,
    LEASE,
    CRD,
)


class Registry:
    """The set of served types: the built-ins plus CRD-defined ones."""

    def __init__(self, types=BUILTINS) -> None:
        self._lock = threading.Lock()
        self._builtin = tuple(types)
        self._types: list[ResourceType] = list(types)
        self._reindex()

    def _reindex(self) -> None:
        self._by_kind = {(rt.api_version, rt.kind): rt for rt in self._types}
        self._by_plural = {(rt.group, rt.version, rt.plural): rt for rt in self._types}

    def by_kind(self, api_version: str, kind: str) -> ResourceType:
        """Return the type for an apiVersion and kind; KeyError if unknown."""
        return self._by_kind[(api_version, kind)]

    def by_plural(self, group: str, version: str, plural: str) -> ResourceType:
        """Return the type for a group, version and plural; KeyError if unknown."""
        return self._by_plural[(group, version, plural)]

    def all(self) -> list[ResourceType]:
        """Return every served type."""
        return list(self._types)

    def groups(self) -> dict[str, list[str]]:
        """Return each served group with its versions, preferred version first."""
        groups: dict[str, list[str]] = {}
        for rt in self._types:
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return groups

    def add(self, rt: ResourceType) -> None:
        """Serve one more type (from a CRD)."""
        with self._lock:
            self._types = [t for t in self._types if t != rt] + [rt]
            self._reindex()

    def remove_custom(self, group: str, plural: str) -> None:
        """Stop serving every version of a CRD-defined type."""
        with self._lock:
            self._types = [
                t
                for t in self._types
                if t in self._builtin or not (t.group == group and t.plural == plural)
            ]
            self._reindex()

    def is_builtin(self, rt: ResourceType) -> bool:
        """Return whether the type is one of the built-ins."""
        return rt in self._builtin

    def reset(self) -> None:
        """Forget every CRD-defined type."""
        with self._lock:
            self._types = list(self._builtin)
            self._reindex()


_BUILTIN_REGISTRY = Registry()


def by_kind(api_version: str, kind: str) -> ResourceType:
    """Return the built-in type for an apiVersion and kind; KeyError if unknown."""
    return _BUILTIN_REGISTRY.by_kind(api_version, kind)


def by_plural(group: str, version: str, plural: str) -> ResourceType:
    """Return the built-in type for a group, version and plural; KeyError if unknown."""
    return _BUILTIN_REGISTRY.by_plural(group, version, plural)
