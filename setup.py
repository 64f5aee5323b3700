"""rgbt-seg: one ament_python package (``rgbt_seg_ros``) that also ships the ROS-free library ``rgbt_seg_core``.

Works with ``colcon build`` on a ROS 2 install and with ``pip install .`` (ROS from the PyPI wheels, extra
``[ros]``). The data_files put package.xml, the ament resource marker, launch and config files under
``share/rgbt_seg_ros`` where ``ros2 launch`` and ``ament_index`` look for them.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "rgbt_seg_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="RGB-thermal semantic segmentation (RSFNet) for robots: training, evaluation and a ROS 2 node",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["rgbt_seg_core", "rgbt_seg_core.*", "rgbt_seg_ros", "rgbt_seg_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
        # `ros2 run` looks in <prefix>/lib/<package>; colcon also puts the console scripts there (setup.cfg)
        (f"lib/{PACKAGE}", ["scripts/segmentation_node"]),
    ],
    install_requires=[
        "torch",
        "torchvision",
        "numpy",
        "opencv-contrib-python-headless",
        "safetensors",
        "pyyaml",
        "tqdm",
        "rosbags",
        "setuptools",
    ],
    extras_require={
        "ros": [
            "ros-rclpy",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-diagnostic-msgs",
            "ros-rmw-fastrtps-cpp",
        ],
        "train": ["tensorboard"],
        "test": ["pytest", "hypothesis"],
    },
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "rgbt-seg = rgbt_seg_core.cli.main:main",
            "rgbt-seg-node = rgbt_seg_ros.segmentation_node:main",
            "segmentation_node = rgbt_seg_ros.segmentation_node:main",
        ],
    },
)
