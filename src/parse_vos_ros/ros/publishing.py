"""The node's outputs: one frame's result as the ``target``, ``mask``, ``target_point``,
``debug_image`` and ``reasoning`` messages."""

from __future__ import annotations

import json

import numpy as np
from geometry_msgs.msg import PointStamped
from rclpy.lifecycle import LifecycleNode
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String

from parse_vos_ros import image_codec
from parse_vos_ros.msg import TargetSegmentation
from parse_vos_ros.ros import messages, qos
from parse_vos_ros.types import FrameResult


class ResultPublisher:
    """The node's lifecycle publishers (enabled by ``activate``) and the last reasoning trace sent.

    Args:
        node: the lifecycle node the publishers belong to.
    """

    def __init__(self, node: LifecycleNode) -> None:
        out_qos = qos.output_qos()
        self._node = node
        self.target = node.create_lifecycle_publisher(TargetSegmentation, "target", out_qos)
        self._mask = node.create_lifecycle_publisher(Image, "mask", out_qos)
        self._debug = node.create_lifecycle_publisher(Image, "debug_image", qos.output_qos(depth=1))
        self._reasoning = node.create_lifecycle_publisher(String, "reasoning", qos.command_qos(qos.REASONING_DEPTH))
        self._point = node.create_lifecycle_publisher(PointStamped, "target_point", out_qos)
        self._last_trace = ""  # command id + trace of the last reasoning message

    def destroy(self) -> None:
        """Destroy the publishers (the node's cleanup; nothing may publish through them afterwards)."""
        for publisher in (self.target, self._mask, self._debug, self._reasoning, self._point):
            self._node.destroy_lifecycle_publisher(publisher)

    def publish(self, result: FrameResult, in_header: Header, image: np.ndarray, frame_id_override: str,
                command_text: str) -> None:
        """Publish ``result`` for the ``(H, W, 3)`` ``image`` with the input's stamp and frame."""
        header = Header()
        header.stamp = in_header.stamp
        header.frame_id = frame_id_override or in_header.frame_id
        height, width = image.shape[:2]
        mask_msg = messages.mask_message(result, header, height, width)
        self.target.publish(messages.target_message(result, header, mask_msg, command_text))
        self._mask.publish(mask_msg)
        for point in messages.point_stamped_messages(result, header):
            self._point.publish(point)
        if self._debug.get_subscription_count() > 0:  # the overlay costs time: only when watched
            mask = messages.fit_mask(result.mask, height, width)
            self._debug.publish(messages.overlay_message(image_codec.overlay(image, mask, result.box), header))
        # Publish the trace when the reasoning changed, not every frame.
        key = result.command_id + json.dumps(result.trace, default=str, sort_keys=True)
        if key != self._last_trace:
            self._last_trace = key
            self._reasoning.publish(String(data=messages.trace_json(result)))
