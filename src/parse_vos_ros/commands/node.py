"""`parse-vos node`: the ROS 2 node (also ``ros2 run parse_vos_ros parse_vos_node``)."""

from __future__ import annotations

import argparse
import sys

from parse_vos_ros.config import ConfigError, load_config, parse_override
from parse_vos_ros.ros_env import DDS_PROFILE, RosUnavailableError, ensure_ros

HELP = "Run the ROS 2 node (camera topic in, target mask and box out)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="default", help="profile name or YAML path (default: default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set engine.window_s=5 (repeatable)")
    parser.add_argument("--camera-topic", default="", help="remap the image input to this topic")
    parser.add_argument("--namespace", default="", help="node namespace (topics are relative to it)")
    parser.add_argument("--name", default="", help="node name (default parse_vos)")
    parser.add_argument("--no-autostart", action="store_true",
                        help="start unconfigured and wait for lifecycle transitions (configure, activate)")
    parser.add_argument("--dump-params", action="store_true",
                        help="print the profile as a ROS params file (for --ros-args --params-file) and exit")
    parser.add_argument("--dds-profile", action="store_true",
                        help="print the path of the bundled Fast DDS profile (large images by shared memory) and exit; "
                             "give it to the camera driver: export FASTDDS_DEFAULT_PROFILES_FILE=$(parse-vos node "
                             "--dds-profile)")
    parser.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[],
                        help="everything after this goes to ROS (remaps, -p key:=value, --params-file F)")


def run(args: argparse.Namespace) -> int:
    if args.dds_profile:
        print(DDS_PROFILE)
        return 0
    try:
        config = load_config(args.config, dict(parse_override(item) for item in args.set))
    except ConfigError as exc:
        print(f"parse-vos node: {exc}", file=sys.stderr)
        return 2
    if args.dump_params:
        from parse_vos_ros.ros.params import params_file_text

        sys.stdout.write(params_file_text(config))
        return 0
    # `parse_vos_node ARGS` arrives here as `node ARGS`; the re-exec must keep the subcommand.
    argv = sys.argv[1:] if sys.argv[1:2] == ["node"] else ["node", *sys.argv[1:]]
    try:
        ensure_ros(argv)
    except RosUnavailableError as exc:
        print(f"parse-vos node: {exc}", file=sys.stderr)
        return 2
    from parse_vos_ros.ros.launch import ros_arguments
    from parse_vos_ros.ros.spin import EngineStartError, spin

    ros_args = ros_arguments(camera_topic=args.camera_topic, namespace=args.namespace, name=args.name)
    try:
        return spin(config, [*ros_args, *args.ros_args], autostart=not args.no_autostart)
    except (ConfigError, EngineStartError) as exc:  # a bad --ros-args parameter, a model that fails to load
        print(f"parse-vos node: {exc}", file=sys.stderr)
        return 2
