"""The node's frame path: the image callback's latest-frame slot and the worker thread that
applies queued changes and commands, decodes, checks the stamp, runs the engine and publishes.

``FrameWorker`` is a part of ``ParseVosNode`` (a mixin): it uses the node's slot (``_slot``,
``_slot_lock``, ``_slot_event``), counters, fault log, engine (under ``_engine_lock``) and
``_last_stamp``, the stamp of the last frame it took. Stream restarts belong to the engine: a
new frame size or a stamp far back makes the engine reset itself and say so on
``FrameResult.restart``, which the worker reports as a fault (``size_change``,
``stream_restart``). The worker only refuses a frame whose stamp repeats the last one or is
behind it by at most ``ros.stream_restart_s`` (a late frame of the same stream, not a restart).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sensor_msgs.msg import Image

from parse_vos_ros import image_codec
from parse_vos_ros.context.depth import DepthFrame
from parse_vos_ros.ros import memory, qos
from parse_vos_ros.ros.stamps import stamp_seconds
from parse_vos_ros.types import MIN_IMAGE_SIDE, TargetState

# Frames dated more than this ahead of the node's clock are refused (``stamp_in_future``): taking
# one as the stream's newest stamp would make every following, correctly dated frame look like a
# jump back in time, and reset tracking. Generous for clocks that are not synchronised by NTP.
MAX_STAMP_AHEAD_S = 10.0
# Seconds after an oversized message was refused before the worker hands freed heap back to the
# OS: by then the executor has dropped its last reference to the message.
TRIM_DELAY_S = 0.05
# The fault kind under which each kind of ``StreamRestart`` is counted (the diagnostics keys
# ``fault_size_change`` and ``fault_stream_restart``).
RESTART_FAULTS = {"size_change": "size_change", "time_jump": "stream_restart"}


class FrameWorker:
    """Image intake and the worker thread of ``ParseVosNode`` (see the module docstring)."""

    def _subscribe_images(self, reliability: str) -> Any:
        return self.create_subscription(Image, "image", self._on_image, qos.image_qos(reliability))

    def _resubscribe(self, reliability: str) -> None:
        if reliability == self._reliability:
            return
        old = self._image_sub
        self._image_sub = self._subscribe_images(reliability)
        self.destroy_subscription(old)
        self.get_logger().info(f"image subscription is now {reliability} (publishers: {self._publisher_summary()})")
        self._reliability = reliability

    def _offered_reliability(self) -> list[Any]:
        infos = self.get_publishers_info_by_topic(self._image_sub.topic_name)
        return [info.qos_profile.reliability for info in infos]

    def _publisher_summary(self) -> str:
        return ", ".join(str(r.name).lower() for r in self._offered_reliability()) or "none"

    def _check_reliability(self) -> None:
        """Follow the camera: best effort only while some publisher is best effort."""
        wanted = qos.choose_image_reliability(self._offered_reliability(), self.config.ros.image_reliability)
        if wanted != self._reliability:
            self._resubscribe(wanted)

    def _on_image(self, msg: Image) -> None:
        """Never blocks: keep the newest message, count the one it replaces as dropped. An image
        over ``ros.max_image_pixels`` is refused here, so it never waits in the slot, and the
        worker hands the freed memory back to the OS shortly after."""
        # Keep only the text of a refusal: the exception's traceback would hold this frame, and with
        # it the huge message, in a reference cycle until the garbage collector runs.
        refusal: tuple[str, str] | None = None
        try:
            image_codec.check_pixels(int(msg.height), int(msg.width), self.config.ros.max_image_pixels)
        except image_codec.ImageDecodeError as exc:
            refusal = exc.kind, f"image dropped: {exc}"
        with self._slot_lock:
            self._counters["received"] += 1
            self._last_arrival = time.monotonic()
            if self.lifecycle != "active":
                self._counters["ignored_inactive"] += 1
                return
            if refusal is not None:
                self._counters["rejected"] += 1
                self._trim_at = time.monotonic() + TRIM_DELAY_S
            else:
                if self._slot is not None:
                    self._counters["dropped"] += 1
                self._slot = msg
        if refusal is not None:
            self._faults.report(*refusal)
        self._slot_event.set()

    def _release_memory_when_due(self) -> None:
        """After an oversized message was refused: give the freed heap back (worker thread)."""
        if self._trim_at is None:  # the common case, read without the lock (set only under it)
            return
        with self._slot_lock:
            due = self._trim_at is not None and time.monotonic() >= self._trim_at
            if due:
                self._trim_at = None
                self._counters["memory_trims"] += 1
        if due:
            memory.release_memory()

    def _work(self, stop: threading.Event) -> None:
        """The worker thread's loop, until ``stop`` is set (by cleanup or shutdown)."""
        while not stop.is_set():
            self._release_memory_when_due()
            if not self._slot_event.wait(timeout=0.1):
                continue
            with self._slot_lock:
                msg, self._slot = self._slot, None
                self._slot_event.clear()
            try:
                self._apply_pending()
                self._apply_queued_command()
                if msg is not None:
                    start = time.perf_counter()
                    self._process(msg)
                    self._process_ms.append((time.perf_counter() - start) * 1e3)
            except Exception as exc:  # e.g. publishing while SIGINT shuts the context down
                if stop.is_set() or not self.context.ok():
                    return
                self._faults.report("internal_error", f"worker: {type(exc).__name__}: {exc}")

    def _reject(self, kind: str, message: str) -> None:
        with self._slot_lock:  # the image callback counts rejections too, on the executor thread
            self._counters["rejected"] += 1
        self._faults.report(kind, message)

    def _process(self, msg: Image) -> None:
        """Validate the frame completely (decode, size, stamp), only then change any state: run the
        engine (which restarts the stream on a new size or a stamp far back) and publish (worker thread)."""
        try:
            image = image_codec.decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian,
                                             msg.data, max_pixels=self.config.ros.max_image_pixels,
                                             min_side=MIN_IMAGE_SIDE)
        except image_codec.ImageDecodeError as exc:
            self._reject(exc.kind, f"image dropped: {exc}")
            return
        now = self.get_clock().now().nanoseconds * 1e-9
        stamp = stamp_seconds(msg.header)
        if stamp <= 0.0:  # unstamped camera driver: fall back to arrival time
            stamp = now
        if now > 0.0 and stamp - now > MAX_STAMP_AHEAD_S:  # now is 0 until a simulated clock ticks
            self._reject("stamp_in_future", f"image dropped: stamp {stamp:.3f} is {stamp - now:.1f} s ahead of "
                         f"this node's clock (more than {MAX_STAMP_AHEAD_S:g} s; camera clock not synchronised?)")
            return
        refusal = self._stamp_refusal(stamp)
        if refusal is not None:
            self._reject(*refusal)
            return
        # Valid from here on: only now may the frame change the stream state.
        self._last_stamp = stamp
        depth = self._pair_depth(stamp, (int(msg.width), int(msg.height)))
        try:
            with self._engine_lock:
                if self._engine is None:
                    return  # cleaned up while this frame was in flight
                result = (self._engine.push_frame(image, stamp) if depth is None
                          else self._engine.push_frame(image, stamp, depth=depth))
        except Exception as exc:  # the node must stay up whatever a backend does on one frame
            self._reject("engine_error", f"frame {stamp:.3f} failed in the engine: {type(exc).__name__}: {exc}")
            return
        if result.restart is not None:
            self._faults.report(RESTART_FAULTS[result.restart.kind], result.restart.message)
        with self._slot_lock:
            self._counters["processed"] += 1
            self._command_answered = True
            if self.lifecycle == "active":
                self._last_result = result
        if depth is not None and not result.points and result.state in (TargetState.TRACKING, TargetState.AMBIGUOUS):
            self._faults.report("depth_invalid_on_target", f"frame {stamp:.3f}: no valid depth under the target's "
                                                           "mask (holes, NaN or zeros): no target_point")
        self._outputs.publish(result, msg.header, image, self.config.ros.frame_id_override, self._command_text)

    def _pair_depth(self, stamp: float, size: tuple[int, int]) -> DepthFrame | None:
        """The depth paired with this colour frame; a depth fault is counted and the frame stays 2D."""
        depth, fault = self._depth_input.pair(stamp, *size)
        if fault is not None:
            self._faults.report(fault.kind, fault.message)
        if depth is not None:
            with self._slot_lock:
                self._counters["with_depth"] += 1
        return depth

    def _stamp_refusal(self, stamp: float) -> tuple[str, str] | None:
        """Why a decoded frame at ``stamp`` is refused, as (kind, message): its stamp repeats the
        last frame's (``duplicate_stamp``) or is behind it by at most ``ros.stream_restart_s``
        (``stamp_out_of_order``). None: it is taken; a stamp further back starts a new stream,
        which the engine detects and reports."""
        last = self._last_stamp
        if last is None or stamp > last or last - stamp > self.config.ros.stream_restart_s:
            return None
        kind = "duplicate_stamp" if stamp == last else "stamp_out_of_order"
        return kind, f"image dropped: stamp {stamp:.6f} not after the previous {last:.6f}"

    def _reset_engine(self) -> None:
        """Forget tracks and history (the ``reset`` service); the next frame may carry any stamp."""
        with self._engine_lock:
            if self._engine is not None:
                self._engine.reset()
        self._last_stamp = None
