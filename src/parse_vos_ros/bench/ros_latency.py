"""The ROS figures: runs ``benchmarks/bench_ros_latency.py`` (a camera process publishing images
through DDS to the node in its own process) as a subprocess and returns its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_ros_latency.py"


def ros_latency(profile: str, width: int, height: int, *, seconds: float = 20.0, fps: float = 30.0,
                timeout_s: float = 300.0, script: Path = SCRIPT) -> dict[str, object]:
    """Image-publish -> target-receive latency through DDS; ``{"skipped"/"error": reason}`` when it cannot run."""
    if not script.is_file():
        return {"skipped": f"{script} not found (the ROS benchmark ships with the source checkout)"}
    with tempfile.TemporaryDirectory(prefix="parse-vos-ros-bench-") as tmp:
        out = Path(tmp) / "ros.json"
        cmd = [sys.executable, str(script), "--out", str(out), "--profile", profile, "--width", str(width),
               "--height", str(height), "--seconds", str(seconds), "--fps", str(fps)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return {"error": f"ROS benchmark did not finish within {timeout_s:.0f} s"}
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"error": f"ROS benchmark exited with {proc.returncode}: " + " | ".join(tail)}
        return json.loads(out.read_text(encoding="utf-8"))
