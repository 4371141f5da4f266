"""Workloads: where each kind keeps its pod template, and which ConfigMaps and Secrets it reads."""

from __future__ import annotations

from typing import NamedTuple

from cmp import nodes
from cmp.layout import Layout, block_layout
from cmp.model import Findings, Identity, Ref, SourceKind, Via
from cmp.order import Position

TEMPLATE = ("spec", "template")
CRONJOB_TEMPLATE = ("spec", "jobTemplate", "spec", "template")

# (API group, kind) → path of the pod template. Jobs are listed but stamped only on request.
POD_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "Deployment"): TEMPLATE,
    ("extensions", "Deployment"): TEMPLATE,
    ("apps", "StatefulSet"): TEMPLATE,
    ("apps", "DaemonSet"): TEMPLATE,
    ("extensions", "DaemonSet"): TEMPLATE,
    ("apps", "ReplicaSet"): TEMPLATE,
    ("extensions", "ReplicaSet"): TEMPLATE,
    ("", "ReplicationController"): TEMPLATE,
    ("argoproj.io", "Rollout"): TEMPLATE,
    ("apps.openshift.io", "DeploymentConfig"): TEMPLATE,
    ("", "DeploymentConfig"): TEMPLATE,  # OpenShift's legacy ungrouped API
    ("batch", "CronJob"): CRONJOB_TEMPLATE,
    ("batch", "Job"): TEMPLATE,
}
WORKLOAD_KINDS: frozenset[str] = frozenset(kind for _, kind in POD_TEMPLATE_PATHS)
# Objects with a pod spec that are never stamped; read only when explaining.
UNSTAMPED_POD_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("", "PodTemplate"): ("template",),
}
UNSTAMPED_KINDS: frozenset[str] = frozenset(kind for _, kind in UNSTAMPED_POD_PATHS)
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Where a pod spec names a source: (kind, field holding the reference[, field holding the name]).
VOLUME_SOURCES: tuple[tuple[SourceKind, str, str], ...] = (
    ("ConfigMap", "configMap", "name"),
    ("Secret", "secret", "secretName"),
)
PROJECTED_SOURCES: tuple[tuple[SourceKind, str], ...] = (
    ("ConfigMap", "configMap"),
    ("Secret", "secret"),
)
ENV_KEY_REFS: tuple[tuple[SourceKind, str], ...] = (
    ("ConfigMap", "configMapKeyRef"),
    ("Secret", "secretKeyRef"),
)
ENV_FROM_REFS: tuple[tuple[SourceKind, str], ...] = (
    ("ConfigMap", "configMapRef"),
    ("Secret", "secretRef"),
)


def api_group(api_version: str | None) -> str:
    return api_version.rsplit("/", 1)[0] if api_version and "/" in api_version else ""


class TemplateSite(NamedTuple):
    """Where the pod template sits, and the shape of its metadata, for an in-place edit."""

    path: tuple[str | int, ...]  # from the document root to the pod template
    template: Layout | None  # None: not a block mapping, so the document is re-emitted instead
    metadata: Layout | None
    annotations: Layout | None
    has_metadata: bool
    has_annotations: bool
    annotations_text: dict[str, str]  # current pod-template annotations

    @property
    def editable_in_place(self) -> bool:
        return (
            self.template is not None
            and (self.metadata is not None or not self.has_metadata)
            and (self.annotations is not None or not self.has_annotations)
        )


class Workload(NamedTuple):
    identity: Identity
    is_job: bool
    refs: tuple[Ref, ...]
    site: TemplateSite | None  # None when the object has no pod template (a Rollout's workloadRef)
    update_strategy: str | None = None  # spec.updateStrategy.type of a StatefulSet or DaemonSet
    stampable: bool = True  # False for a bare Pod or a PodTemplate, read only to explain them
    position: Position | None = None  # where Argo CD's sync applies it; None: unread


class _Scan:
    """Collects the references of one pod spec; a wrong shape is a finding, a bad name an error."""

    def __init__(self, where: str, findings: Findings, include_pull_secrets: bool) -> None:
        self.where = where
        self.findings = findings
        self.include_pull_secrets = include_pull_secrets
        self.refs: list[Ref] = []

    def items(self, node: nodes.Node | None, key: str, path: str) -> list[tuple[str, nodes.Node]]:
        value = nodes.get_present(node, key, self.where, path)
        full = nodes.join_path(path, key)
        if value is None:
            return []
        if not isinstance(value, nodes.SequenceNode):
            self.findings.add(
                self.where, f"{full} is {nodes.describe(value)}, not a list; ignored", "malformed"
            )
            return []
        return [(nodes.join_path(full, i), item) for i, item in enumerate(value.value)]

    def ref(
        self,
        kind: SourceKind,
        node: nodes.Node | None,
        path: str,
        *,
        via: Via,
        name_key: str = "name",
    ) -> None:
        """Record the reference held in mapping ``node``: its name, keys and optionality.

        How ``via`` reads the source decides which keys it sees: an env key reference its
        ``key``, a volume or projected source its ``items`` (all keys without them).
        """
        if node is None:
            return
        if not isinstance(node, nodes.MappingNode):
            self.findings.add(self.where, f"{path} is {nodes.describe(node)}; ignored", "malformed")
            return
        name = nodes.get_str(node, name_key, self.where, path)
        optional = nodes.get_bool(node, "optional", self.where, path)
        if not name:
            if not optional:
                self.findings.add(self.where, f"{path} names no {kind}", "unnamed-ref")
            return
        keys: tuple[str, ...] | None = None
        if via == "env":
            key = nodes.get_str(node, "key", self.where, path)
            keys = (key,) if key is not None else None
        elif via in ("volume", "projected"):
            listed = [
                nodes.get_str(item, "key", self.where, item_path)
                for item_path, item in self.items(node, "items", path)
            ]
            keys = tuple(k for k in listed if k is not None) or None
        self.refs.append(Ref(kind, name, via, path, optional, keys))

    def ref_at(
        self,
        kind: SourceKind,
        parent: nodes.Node | None,
        field: str,
        path: str,
        *,
        via: Via,
        name_key: str = "name",
    ) -> None:
        """Record the reference held under ``field`` of ``parent``, if there is one."""
        node = nodes.get(parent, field, self.where, path)
        self.ref(kind, node, f"{path}.{field}", via=via, name_key=name_key)

    def pod_spec(self, spec: nodes.Node | None, path: str) -> None:
        for vpath, volume in self.items(spec, "volumes", path):
            for kind, field, name_key in VOLUME_SOURCES:
                self.ref_at(kind, volume, field, vpath, via="volume", name_key=name_key)
            projected = nodes.get(volume, "projected", self.where, vpath)
            for spath, source in self.items(projected, "sources", f"{vpath}.projected"):
                for kind, field in PROJECTED_SOURCES:
                    self.ref_at(kind, source, field, spath, via="projected")
        for field in CONTAINER_LISTS:
            for cpath, container in self.items(spec, field, path):
                self.container(container, cpath)
        if self.include_pull_secrets:
            for ipath, item in self.items(spec, "imagePullSecrets", path):
                self.ref("Secret", item, ipath, via="imagePullSecrets")

    def container(self, container: nodes.Node, path: str) -> None:
        for epath, env in self.items(container, "env", path):
            value_from = nodes.get(env, "valueFrom", self.where, epath)
            for kind, field in ENV_KEY_REFS:
                self.ref_at(kind, value_from, field, f"{epath}.valueFrom", via="env")
        for fpath, env_from in self.items(container, "envFrom", path):
            for kind, field in ENV_FROM_REFS:
                self.ref_at(kind, env_from, field, fpath, via="envFrom")


def _site(
    obj: nodes.Node, prefix: tuple[str | int, ...], template_path: tuple[str, ...], where: str
) -> tuple[TemplateSite | None, nodes.Node | None]:
    node: nodes.Node | None = obj
    for key in template_path:
        node = nodes.get(node, key, where, "")
    if not isinstance(node, nodes.MappingNode):
        return None, None
    metadata = nodes.get(node, "metadata", where, "")
    annotations = nodes.get(metadata, "annotations", where, "")
    current: dict[str, str] = {}
    if isinstance(annotations, nodes.MappingNode):
        for key, value in nodes.pairs(annotations, where, "metadata.annotations"):
            if isinstance(value, nodes.ScalarNode):
                current[key] = str(value.value)
    site = TemplateSite(
        path=prefix + template_path,
        template=block_layout(node),
        metadata=block_layout(metadata),
        annotations=block_layout(annotations),
        has_metadata=metadata is not None,
        has_annotations=annotations is not None,
        annotations_text=current,
    )
    return site, nodes.get(node, "spec", where, "")


def scan(
    obj: nodes.Node,
    prefix: tuple[str | int, ...],
    identity: Identity,
    group: str,
    findings: Findings,
    *,
    include_pull_secrets: bool,
    unstamped: bool = False,
) -> Workload | None:
    """The workload record of ``obj``, or None if its kind has no pod template we stamp.

    ``unstamped`` also reads bare Pods and PodTemplates, marked ``stampable=False``.
    """
    template_path = POD_TEMPLATE_PATHS.get((group, identity.kind))
    stampable = template_path is not None
    if template_path is None and unstamped:
        template_path = UNSTAMPED_POD_PATHS.get((group, identity.kind))
    if template_path is None:
        return None
    nodes.check_unique_keys(obj, identity.where)
    site, spec = _site(obj, prefix, template_path, identity.where)
    scanner = _Scan(identity.where, findings, include_pull_secrets)
    if site is not None:
        scanner.pod_spec(spec, ".".join((*template_path, "spec")))
    return Workload(
        identity,
        identity.kind == "Job",
        tuple(scanner.refs),
        site,
        _update_strategy(obj, identity.kind),
        stampable,
    )


def _update_strategy(obj: nodes.Node, kind: str) -> str | None:
    if kind not in ("StatefulSet", "DaemonSet"):
        return None
    spec = nodes.get(obj, "spec", "", "")
    strategy = nodes.get(spec, "updateStrategy", "", "spec")
    value = nodes.get(strategy, "type", "", "spec.updateStrategy")
    if value is None or nodes.scalar_type(value) != "str":
        return None
    return str(value.value)
