"""ros2 launch parse_vos_ros parse_vos.launch.py camera_topic:=/camera/image_raw profile:=default namespace:=robot1

With an RGB-D camera add ``depth_topic:=/camera/aligned_depth_to_color/image_raw
camera_info_topic:=/camera/color/camera_info`` for the 3D outputs (``target_point``).

Starts the PARSE-VOS node with a profile (a name from config/ or a YAML path), the camera topic
remapped onto the node's ``image`` input, an optional namespace, and an optional ROS params file
whose values override the profile's (``parse-vos node --dump-params`` writes one).

Machines without the launch system: ``parse-vos node --config P --camera-topic T --namespace N``
does the same (see parse_vos_ros.ros.launch).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def _depth_remaps(context):
    """The optional aligned depth and camera_info topics (empty: not remapped)."""
    pairs = [("depth", LaunchConfiguration("depth_topic").perform(context)),
             ("camera_info", LaunchConfiguration("camera_info_topic").perform(context))]
    return [(name, topic) for name, topic in pairs if topic]


def _node(context, *args, **kwargs):
    profile = LaunchConfiguration("profile").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context)
    return [
        Node(
            package="parse_vos_ros",
            executable="parse_vos_node",
            name=LaunchConfiguration("node_name").perform(context),
            namespace=LaunchConfiguration("namespace").perform(context),
            arguments=["--config", profile],
            remappings=[("image", LaunchConfiguration("camera_topic").perform(context)), *_depth_remaps(context)],
            parameters=[params_file] if params_file else [],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw",
                                  description="sensor_msgs/Image topic of the camera"),
            DeclareLaunchArgument("depth_topic", default_value="",
                                  description="optional aligned depth image (16UC1 mm or 32FC1 m) for 3D outputs"),
            DeclareLaunchArgument("camera_info_topic", default_value="",
                                  description="optional sensor_msgs/CameraInfo of the aligned depth"),
            DeclareLaunchArgument("profile", default_value="default",
                                  description="profile name (config/<name>.yaml) or a YAML path"),
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument("node_name", default_value="parse_vos", description="node name"),
            DeclareLaunchArgument("params_file", default_value="",
                                  description="optional ROS params file overriding profile keys"),
            OpaqueFunction(function=_node),
        ]
    )
