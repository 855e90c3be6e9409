"""ros2 launch parse_vos_ros parse_vos.launch.py camera_topic:=/camera/image_raw profile:=default namespace:=robot1

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
            remappings=[("image", LaunchConfiguration("camera_topic").perform(context))],
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
            DeclareLaunchArgument("profile", default_value="default",
                                  description="profile name (config/<name>.yaml) or a YAML path"),
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument("node_name", default_value="parse_vos", description="node name"),
            DeclareLaunchArgument("params_file", default_value="",
                                  description="optional ROS params file overriding profile keys"),
            OpaqueFunction(function=_node),
        ]
    )
