"""Class names and colour palettes of the supported data sets (MFNet and PST900 as released).

Checkpoints carry these so the evaluator and the ROS node never re-declare them (STYLE: torchvision weights
metadata).
"""

from __future__ import annotations

from typing import Sequence

__all__ = [
    "MFNET_CLASSES", "MFNET_PALETTE", "PST900_CLASSES", "PST900_PALETTE", "KUST4K_CLASSES", "KUST4K_PALETTE",
    "default_classes", "label_map", "UNLABELLED_NAME",
]

MFNET_CLASSES = (
    "unlabeled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump",
)
MFNET_PALETTE = (
    (0, 0, 0), (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 192),
    (128, 128, 0), (64, 64, 128), (192, 128, 128), (192, 64, 0),
)
PST900_CLASSES = ("background", "fire_extinguisher", "backpack", "hand_drill", "survivor")
PST900_PALETTE = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255))
# CIMNet §IV-A: eight classes of road scenes after "unlabelled" (the order of its Table II's columns)
KUST4K_CLASSES = (
    "unlabelled", "road", "building", "motorcycle", "car", "truck", "tree", "person", "traffic_facilities",
)
KUST4K_PALETTE = (
    (0, 0, 0), (128, 64, 128), (70, 70, 70), (0, 0, 230), (0, 0, 142), (0, 0, 70), (107, 142, 35),
    (220, 20, 60), (250, 170, 30),
)  # no published palette: Cityscapes' colours for the same kinds of object


def _generated_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    """Distinct colours for class counts without a published palette (PASCAL VOC's bit-interleaving scheme)."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return tuple(out)


def default_classes(num_classes: int) -> tuple[tuple[str, ...], tuple[tuple[int, int, int], ...]]:
    """Names and palette for a class count: MFNet for 9, PST900 for 5, generic otherwise."""
    if num_classes == len(MFNET_CLASSES):
        return MFNET_CLASSES, MFNET_PALETTE
    if num_classes == len(PST900_CLASSES):
        return PST900_CLASSES, PST900_PALETTE
    return tuple(f"class_{i}" for i in range(num_classes)), _generated_palette(num_classes)


# vision_msgs/LabelInfo's name for the unlabelled id, the largest id the labels' type holds (255 in mono8 labels):
# pixels the node leaves unlabelled (confidence below min_confidence). Not "unlabeled": MFNet's class 0 is that.
UNLABELLED_NAME = "unlabelled (below threshold)"


def label_map(class_names: Sequence[str], unlabelled: int) -> list[tuple[int, str]]:
    """The class map a vision_msgs/LabelInfo lists for labels whose id is the class's index in ``class_names``:
    every class, then ``unlabelled`` (the id the labels carry where no class is sure enough) unless a class has it.
    Raises ValueError naming a class id that VisionClass' uint16 cannot hold."""
    if len(class_names) > 65535:
        raise ValueError(f"{len(class_names)} classes: a vision_msgs class id is a uint16 (at most 65535 ids)")
    out = [(i, str(name)) for i, name in enumerate(class_names)]
    if unlabelled >= len(class_names):
        out.append((unlabelled, UNLABELLED_NAME))
    return out
