"""parse_vos_ros: streaming referring video object segmentation (PARSE-VOS) for ROS 2.

The generated ROS interfaces (``parse_vos_ros.msg``, ``parse_vos_ros.srv``) live in the colcon
install space, in a directory of the same name; ``extend_path`` merges it into this package so
both import as one package whether the core comes from an editable install or from colcon.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
