"""Every change to a cluster goes through these functions.

The API views, the admin, the periodic task and the launcher call them, so the
credential checks, the test on save and the sealing live in one place.
"""

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.http import Http404
from django.utils import timezone

from kubeorch import crypto
from kubeorch.api import Conflict

from . import connection
from .connection import ClusterProbe, CredentialsError
from .models import Cluster

logger = logging.getLogger(__name__)

SIMULATED_CLUSTER_NAME = "kubesim"
STATUS_FIELDS = [
    "last_checked_at",
    "reachable",
    "kubernetes_version",
    "node_count",
    "namespaces",
    "last_error",
]


def cluster_for_user(user, cluster_id, *, manage: bool = False) -> Cluster:
    """Return a cluster the user may use, or 404; 403 if `manage` and not owner.

    A cluster a user was not given answers 404, so its id is not confirmed.
    """
    try:
        cluster = (
            Cluster.objects.usable_by(user)
            .select_related("owner")
            .prefetch_related("shared_with")
            .get(pk=cluster_id)
        )
    except (Cluster.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such cluster.") from None
    if manage and not cluster.is_managed_by(user):
        raise PermissionDenied("Only the owner of this cluster can do that.")
    return cluster


@dataclass
class CheckedCredentials:
    """Credentials cleaned to their stored shape, and the probe they passed."""

    auth_method: str
    credentials: dict = field(repr=False)
    server: str
    probe: ClusterProbe | None


def check_credentials(
    auth_method: str, credentials: dict, *, test: bool = True
) -> CheckedCredentials:
    """Clean credentials and, if asked, probe the cluster they open.

    Raises ValidationError naming the input field to blame, so forms and API
    answers can show it next to that field.
    """
    try:
        cleaned = connection.clean_credentials(auth_method, credentials)
        endpoint = connection.endpoint_for(auth_method, cleaned)
    except CredentialsError as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc
    probe = connection.probe_endpoint(endpoint) if test else None
    if probe is not None and not probe.ok:
        field_name = _field_to_blame(auth_method, probe)
        raise ValidationError({field_name: [_refusal(probe)]})
    return CheckedCredentials(auth_method, cleaned, endpoint.server, probe)


def register_cluster(
    owner,
    *,
    name: str,
    auth_method: str,
    credentials: dict,
    description: str = "",
    test: bool = True,
    is_public: bool = False,
) -> Cluster:
    """Check the credentials, probe the cluster, and save it if it answered.

    Raises ValidationError naming the field to blame; with `test=False` the
    cluster is saved without being probed (its status stays unknown).
    """
    _check_name_free(owner, name)
    checked = check_credentials(auth_method, credentials, test=test)
    cluster = Cluster(
        owner=owner,
        name=name,
        description=description,
        auth_method=auth_method,
        is_public=is_public,
        server=checked.server,
    )
    cluster.set_credentials(checked.credentials)
    cluster.save()
    if checked.probe is not None:
        record_probe(cluster, checked.probe)
    logger.info(
        "cluster %s (%s) registered by %s with %s", cluster.pk, name, owner, auth_method
    )
    return cluster


def update_cluster(
    cluster: Cluster,
    *,
    name: str | None = None,
    description: str | None = None,
    auth_method: str | None = None,
    credentials: dict | None = None,
    is_public: bool | None = None,
    test: bool = True,
) -> Cluster:
    """Change a cluster's details or credentials; new credentials are tested."""
    changed = []
    if name is not None and name != cluster.name:
        _check_name_free(cluster.owner, name, excluding=cluster)
        cluster.name = name
        changed.append("name")
    if description is not None and description != cluster.description:
        cluster.description = description
        changed.append("description")
    if is_public is not None and is_public != cluster.is_public:
        cluster.is_public = is_public
        changed.append("is_public")
    checked = None
    if credentials is not None:
        method = auth_method or cluster.auth_method
        checked = check_credentials(method, credentials, test=test)
        cluster.auth_method = method
        cluster.server = checked.server
        cluster.set_credentials(checked.credentials)
        changed += ["auth_method", "server", "sealed_credentials"]
    if changed:
        cluster.save(update_fields=[*changed, "updated_at"])
        # Field names only: never the values, which may be credentials.
        logger.info("cluster %s changed: %s", cluster.pk, ", ".join(changed))
    if checked is not None and checked.probe is not None:
        record_probe(cluster, checked.probe)
    return cluster


def register_simulated_cluster(owner, kubeconfig_text: str) -> Cluster:
    """Create or refresh the one simulated cluster every user may deploy to.

    Idempotent: `manage.py up` calls it each time it starts kubesim, possibly
    on a new port. The cluster is saved even if the probe fails.
    """
    checked = check_credentials(
        Cluster.AuthMethod.KUBECONFIG, {"kubeconfig": kubeconfig_text}, test=False
    )
    with transaction.atomic():
        # Two launchers refreshing it at once take turns on the row lock.
        cluster = (
            Cluster.objects.select_for_update()
            .filter(is_simulated=True, name=SIMULATED_CLUSTER_NAME)
            .first()
        ) or Cluster(owner=owner, name=SIMULATED_CLUSTER_NAME, is_simulated=True)
        cluster.auth_method = Cluster.AuthMethod.KUBECONFIG
        cluster.is_public = True
        cluster.server = checked.server
        cluster.description = cluster.description or (
            "The simulated cluster started by manage.py up."
        )
        cluster.set_credentials(checked.credentials)
        cluster.save()
    logger.info("simulated cluster %s points at %s", cluster.pk, checked.server)
    return check_cluster(cluster)


def share_cluster(cluster: Cluster, users: Iterable) -> Cluster:
    """Let more users see and deploy to a cluster (the owner is skipped)."""
    added = [user for user in users if user.pk != cluster.owner_id]
    cluster.shared_with.add(*added)
    logger.info(
        "cluster %s shared with %s", cluster.pk, ", ".join(u.username for u in added)
    )
    return cluster


def unshare_cluster(cluster: Cluster, users: Iterable) -> Cluster:
    """Take a cluster away from users it was shared with."""
    removed = list(users)
    cluster.shared_with.remove(*removed)
    logger.info(
        "cluster %s no longer shared with %s",
        cluster.pk,
        ", ".join(u.username for u in removed),
    )
    return cluster


def delete_cluster(cluster: Cluster) -> None:
    """Delete a cluster, or refuse with 409 while workflows target it."""
    _check_unused(cluster)
    cluster_id = cluster.pk
    try:
        cluster.delete()
    except ProtectedError:
        # A workflow was pointed at it after the check above.
        _check_unused(cluster)
        raise
    logger.info("cluster %s (%s) deleted", cluster_id, cluster.name)


def _check_unused(cluster: Cluster) -> None:
    # Only the owner's own workflows are named: others' names are theirs.
    workflows = cluster.workflows.order_by("name")
    count = workflows.count()
    if count:
        own = list(workflows.filter(owner=cluster.owner).values_list("name", flat=True))
        shown = (
            f" (yours: {', '.join(own[:5])}{' …' if len(own) > 5 else ''})"
            if own
            else ""
        )
        raise Conflict(
            f"The cluster {cluster.name} is the target of {count} "
            f"workflow(s){shown}; move them to another cluster or delete "
            "them first."
        )


def check_cluster(cluster: Cluster) -> Cluster:
    """Probe the cluster now and store what was found."""
    return record_probe(cluster, connection.probe(cluster))


def check_clusters(*, parallelism: int = 8) -> dict[str, int]:
    """Probe every cluster, a few at a time, and store the results.

    Probes run in threads without touching the database; results are stored
    from the calling thread, so no thread needs a connection of its own.
    """
    started = time.monotonic()
    clusters = list(Cluster.objects.all())
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        probes = list(pool.map(connection.probe, clusters))
    counts = {"checked": 0, "reachable": 0, "unreachable": 0}
    for cluster, probe in zip(clusters, probes, strict=True):
        record_probe(cluster, probe)
        counts["checked"] += 1
        counts["reachable" if probe.ok else "unreachable"] += 1
    logger.info(
        "checked %s clusters in %.2f s: %s reachable, %s unreachable",
        counts["checked"],
        time.monotonic() - started,
        counts["reachable"],
        counts["unreachable"],
    )
    return counts


def record_probe(cluster: Cluster, probe: ClusterProbe) -> Cluster:
    """Store a probe's result on the cluster, logging a change of reachability."""
    was_reachable = cluster.reachable
    cluster.last_checked_at = timezone.now()
    cluster.reachable = probe.ok
    cluster.kubernetes_version = probe.version[:50]
    cluster.node_count = probe.node_count
    cluster.namespaces = probe.namespaces
    cluster.last_error = "; ".join(filter(None, [probe.error, *probe.warnings]))
    cluster.save(update_fields=STATUS_FIELDS)
    if was_reachable != cluster.reachable:
        logger.info(
            "cluster %s is now %s%s",
            cluster.pk,
            "reachable" if cluster.reachable else "unreachable",
            f": {probe.error}" if probe.error else "",
        )
    return cluster


def rotate_credentials_keys() -> int:
    """Re-seal every cluster's credentials with the current primary key."""
    started = time.monotonic()
    count = 0
    for cluster_id in Cluster.objects.values_list("pk", flat=True):
        with transaction.atomic():
            # A credentials update at the same time must not be overwritten
            # by a re-seal of the old value.
            cluster = Cluster.objects.select_for_update().get(pk=cluster_id)
            cluster.sealed_credentials = crypto.reseal(cluster.sealed_credentials)
            cluster.save(update_fields=["sealed_credentials"])
        count += 1
    logger.info(
        "re-sealed the credentials of %s clusters in %.2f s",
        count,
        time.monotonic() - started,
    )
    return count


def _check_name_free(owner, name: str, excluding: Cluster | None = None) -> None:
    clusters = Cluster.objects.filter(owner=owner, name=name)
    if excluding is not None:
        clusters = clusters.exclude(pk=excluding.pk)
    if clusters.exists():
        raise ValidationError({"name": [f"You already have a cluster named {name}."]})


def _field_to_blame(auth_method: str, probe: ClusterProbe) -> str:
    if auth_method == Cluster.AuthMethod.KUBECONFIG:
        return "kubeconfig"
    if probe.error_kind != "credentials":
        return "server"
    if auth_method == Cluster.AuthMethod.CLIENT_CERTIFICATE:
        return "client_certificate_data"
    return "token"


def _refusal(probe: ClusterProbe) -> str:
    if probe.error_kind == "unreachable":
        return f"the cluster did not answer: {probe.error}"
    return probe.error
