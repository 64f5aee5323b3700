"""``segmentation_node``: synchronised RGB + thermal in; labels, colour, overlay, gate maps, camera_info and
diagnostics out. The plain node: it configures and activates itself at start (see :mod:`.pipeline` for what it
does, and :mod:`.segmentation_lifecycle_node` for the managed node with the same parameters and topics)."""

from __future__ import annotations

from typing import Any

import rclpy
from rclpy.node import Node

from .pipeline import NODE_NAME, PipelineViews, SegmentationPipeline, declare_parameters

__all__ = ["SegmentationNode", "main", "run"]


class SegmentationNode(PipelineViews, Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.pipeline = SegmentationPipeline(self, declare_parameters(self))
        self.pipeline.configure()  # raises ValueError naming a bad parameter, or the checkpoint's error
        self.pipeline.activate()

    def destroy_node(self) -> None:
        # rclpy also destroys a node whose constructor failed half-way (bad checkpoint): stop what was started
        pipeline = getattr(self, "pipeline", None)
        if pipeline is not None:
            pipeline.cleanup()
        super().destroy_node()


def run(make_node: Any, args: list[str] | None = None) -> int:
    """Init, build the node, spin until SIGINT/SIGTERM, clean up; exit status 1 with one fatal line when the node
    cannot start (bad checkpoint or parameter)."""
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    try:
        node = make_node()
    except Exception as exc:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # SIGTERM's handler shuts the context down; if that lands while spin builds its wait set, rclpy raises
        # RCLError ("context is not valid") instead of ExternalShutdownException. That is a clean stop too.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(args: list[str] | None = None) -> int:
    return run(SegmentationNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
