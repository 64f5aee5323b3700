"""rgbt-seg: one ament_python package (``rgbt_seg_ros``) that also ships the ROS-free library ``rgbt_seg_core``.

Two ways in, one file:
* ``colcon build`` (with or without ``--symlink-install``) runs ``setup.py install`` or ``setup.py develop``;
  setup.cfg sends the console scripts to ``lib/rgbt_seg_ros``, where ``ros2 run`` looks.
* ``pip install .`` builds a wheel, whose console scripts go to ``bin/``; a small launcher in
  ``lib/rgbt_seg_ros/segmentation_node`` hands over to ``bin/rgbt-seg-node`` for ``ros2 run``.

colcon's symlink install runs this file from its build folder, so every path here is taken relative to this
file's real location, never to the working directory.
"""

import sys
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "rgbt_seg_ros"
HERE = Path(__file__).resolve().parent
LEGACY_INSTALL = bool({"install", "develop"} & set(sys.argv[1:]))  # colcon (or a manual setup.py install)


def files(pattern: str) -> list[str]:
    return sorted(glob(pattern, root_dir=HERE))


data_files = [
    ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    (f"share/{PACKAGE}", ["package.xml"]),
    (f"share/{PACKAGE}/launch", files("launch/*.launch.py")),
    (f"share/{PACKAGE}/config", files("config/*.yaml") + files("config/*.rviz")),
]
console_scripts = [
    "rgbt-seg = rgbt_seg_core.cli.main:main",
    "rgbt-seg-node = rgbt_seg_ros.segmentation_node:main",
    "rgbt-seg-lifecycle-node = rgbt_seg_ros.segmentation_lifecycle_node:main",
]
if LEGACY_INSTALL:
    console_scripts += ["segmentation_node = rgbt_seg_ros.segmentation_node:main",
                        "segmentation_lifecycle_node = rgbt_seg_ros.segmentation_lifecycle_node:main"]
else:
    data_files.append((f"lib/{PACKAGE}", ["scripts/segmentation_node", "scripts/segmentation_lifecycle_node"]))

setup(
    name=PACKAGE,
    version="0.1.0",
    description="RGB-thermal semantic segmentation (RSFNet) for robots: training, evaluation and a ROS 2 node",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(where=str(HERE), include=["rgbt_seg_core", "rgbt_seg_core.*", "rgbt_seg_ros",
                                                     "rgbt_seg_ros.*"]),
    package_data={"rgbt_seg_core": ["training/presets/*.yaml"]},
    data_files=data_files,
    # Floors: the oldest versions the test suite passed with (docs/install.md), the same ones
    # rgbt_seg_core.utils.versions checks on import. torch 2.5: torch.onnx.export(dynamo=True), JetPack 6.1's wheel.
    # rosbags 0.11.7: the first to bring backports.zstd (MCAP salvage). NumPy 1.x stays allowed for Humble.
    install_requires=[
        "torch>=2.5",
        "torchvision>=0.20",
        "numpy>=1.23",
        "opencv-contrib-python-headless>=4.8",
        "pyyaml",
        "tqdm",
        "rosbags>=0.11.7",
        "setuptools",
    ],
    extras_require={
        "ros": [
            "ros-rclpy",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-diagnostic-msgs",
            "ros-lifecycle-msgs",
            "ros-rmw-fastrtps-cpp",
        ],
        "train": ["tensorboard"],
        "onnx": ["onnx", "onnxruntime", "onnxscript"],
        "openvino": ["onnx", "onnxscript", "openvino"],  # IR is converted from the ONNX export
        "tensorrt": ["onnx", "onnxscript", "tensorrt"],  # engines are built from the ONNX export
        "mit": ["transformers>=5"],  # cimnet_mitb4: SegFormer's MiT encoder, built from its config
        # bag-eval --workers/--scheduler and bench fleet: many bags on a Dask cluster (a LocalCluster on 127.0.0.1)
        "fleet": ["dask[distributed]>=2024.1"],
        # pytest-xdist: make test's two workers; mypy and its stubs: test/test_types.py
        "test": ["pytest", "pytest-xdist", "hypothesis", "ruff", "safetensors", "colcon-common-extensions",
                 "ros-ament-package", "mypy", "types-PyYAML", "types-tqdm"],
    },
    zip_safe=False,  # the presets are read as files
    # rgbt-seg finds its commands that need rclpy here (rgbt_seg_core.cli.extensions): the core never imports ROS
    entry_points={"console_scripts": console_scripts,
                  "rgbt_seg.commands": ["bag-play = rgbt_seg_ros.commands:bag_play",
                                        "bag-eval-live = rgbt_seg_ros.commands:bag_eval_live",
                                        "bench-node = rgbt_seg_ros.commands:bench_node"]},
)
