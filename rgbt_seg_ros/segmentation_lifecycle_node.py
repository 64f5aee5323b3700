"""``segmentation_lifecycle_node``: the managed form of ``segmentation_node``, for lifecycle managers
(nav2's lifecycle_manager, launch_ros' lifecycle events). Same name, parameters and topics as the plain node,
and the same implementation (:mod:`.pipeline`); only who drives the stages differs:

* configure: validate the parameters, load and warm up the model, create the publishers;
* activate: subscribe to the cameras, start segmenting and publishing;
* deactivate: unsubscribe, stop publishing (the model stays loaded, so activate is instant);
* cleanup: free the model (the process's resident memory falls by about the model's size);
* shutdown: free everything and end the process.

A configure that fails (a bad checkpoint file, a bad parameter) logs why and leaves the node unconfigured, so
configure can be tried again once the file is fixed. The parameters marked read-only (checkpoint, device,
transports, QoS, ...) are fixed for the node's lifetime, as on the plain node: changing one means restarting it.
"""

from __future__ import annotations

from typing import Any

import rclpy
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn

from .pipeline import NODE_NAME, PipelineViews, SegmentationPipeline, declare_parameters
from .segmentation_node import run

__all__ = ["SegmentationLifecycleNode", "main"]


class SegmentationLifecycleNode(PipelineViews, LifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.pipeline = SegmentationPipeline(self, declare_parameters(self))

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.pipeline.configure()
        except Exception as exc:  # a bad checkpoint or parameter: say why, stay unconfigured
            self.get_logger().error(f"configure failed: {exc}")
            self.pipeline.cleanup()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self.pipeline.activate()
        self.get_logger().info("active: segmenting")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.pipeline.deactivate()
        self.get_logger().info("inactive: not segmenting")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.pipeline.cleanup()
        self.get_logger().info("unconfigured: model freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.pipeline.cleanup()
        self._end_timer = self.create_timer(0.1, self._end)  # after the transition's service reply has gone
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.pipeline.cleanup()
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured

    def _end(self) -> None:
        self.destroy_timer(self._end_timer)
        rclpy.try_shutdown(context=self.context)

    def destroy_node(self) -> None:
        pipeline = getattr(self, "pipeline", None)
        if pipeline is not None:
            pipeline.cleanup()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run(SegmentationLifecycleNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
