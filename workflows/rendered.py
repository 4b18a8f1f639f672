"""What the renderer hands to the run engine."""

from dataclasses import dataclass, field


@dataclass
class RenderedNode:
    """The Kubernetes objects one canvas node renders to, main object first."""

    node_id: str
    kind: str
    manifests: list[dict] = field(default_factory=list)

    @property
    def main(self) -> dict:
        return self.manifests[0]
