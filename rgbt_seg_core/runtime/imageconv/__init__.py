"""Image messages <-> numpy without ROS: a small cv_bridge and image_transport decoder for the node and the bag
tools, on message fields, so rclpy and rosbags messages go the same way.

One job a module:
- :mod:`.encodings`: the encodings (ROS's names), raw sensor_msgs/Image fields <-> array, :class:`ImageFormatError`;
- :mod:`.colour`: any colour encoding or compressed colour frame -> H x W x 3 uint8 RGB (OpenCV's conversions);
- :mod:`.thermal`: thermal encodings and compressed thermal -> H x W values;
- :mod:`.compressed`: CompressedImage format strings, the payload's header size, safe decoding;
- :mod:`.headers`: PNG IHDR and JPEG SOF sizes; :mod:`.depth`: compressedDepth's ConfigHeader;
- :mod:`.messages`: stamp, declared size and a decoder for any image message.

A camera's frame is converted with ``rgb_from_image`` / ``thermal_from_image`` (raw) or ``rgb_from_compressed``
/ ``thermal_from_compressed`` (compressed, with ``max_pixels`` checked on the header); every failure is an
:class:`ImageFormatError` naming the reason.
"""

from rgbt_seg_core.runtime.imageconv.colour import (
           RGB_ENCODINGS,
           check_colour_format,
           rgb_from_compressed,
           rgb_from_image,
           to_rgb,
)
from rgbt_seg_core.runtime.imageconv.compressed import (
           DEFAULT_MAX_PIXELS,
           CompressedFormat,
           compressed_size,
           parse_format,
)
from rgbt_seg_core.runtime.imageconv.encodings import ENCODINGS, ImageFormatError, array_to_image_fields, image_to_array
from rgbt_seg_core.runtime.imageconv.messages import decode_image, image_size, is_compressed, stamp_ns
from rgbt_seg_core.runtime.imageconv.thermal import (
           THERMAL_ENCODINGS,
           check_thermal_format,
           thermal_from_compressed,
           thermal_from_image,
)

__all__ = ["ImageFormatError", "ENCODINGS", "RGB_ENCODINGS", "THERMAL_ENCODINGS", "DEFAULT_MAX_PIXELS",
           "CompressedFormat", "image_to_array", "array_to_image_fields", "to_rgb", "rgb_from_image",
           "rgb_from_compressed", "thermal_from_image", "thermal_from_compressed", "check_colour_format",
           "check_thermal_format", "parse_format", "compressed_size", "decode_image", "image_size",
           "is_compressed", "stamp_ns"]
