"""``rgbt-seg register``: the thermal -> RGB homography from point pairs, as a params file for the node."""

from __future__ import annotations

import argparse
from pathlib import Path

from rgbt_seg_core.inference.registration import estimate_homography, homography_yaml, read_point_pairs
from rgbt_seg_core.settings.pairs import check_pair
from rgbt_seg_core.utils.atomic import atomic_write_bytes

# a pair off by more than this after the fit was most likely clicked on the wrong point
SUSPECT_PX = 3.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "register",
        help="estimate the thermal -> RGB homography from point pairs",
        description="Reads four or more pairs of matching points (pairs: [{rgb: [x, y], thermal: [x, y]}, ...], "
        "pixel coordinates in the RGB image and in the raw thermal image), fits the homography by least squares "
        "(normalised DLT), prints each pair's reprojection error in RGB pixels, and writes a ROS 2 parameters file "
        "setting thermal_homography (with --pair, one camera pair's: <pair>.thermal_homography). Give it to the "
        "node after config/segment.yaml, or to predict, eval, bag-eval and bag-extract with --thermal-homography. "
        "Pairs spread over the whole frame, at the distance the robot works at, give the best fit.",
    )
    p.add_argument("--pairs", required=True, help="YAML file of point pairs")
    p.add_argument("--out", required=True, help="parameters file to write (YAML)")
    p.add_argument("--pair", default="", metavar="NAME",
                   help="the camera pair (a name in the node's pairs parameter) whose homography this is: writes "
                   "NAME.thermal_homography, for that pair alone (default: the node's thermal_homography)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.pair:
        check_pair(args.pair)  # before the fit: a name the node would refuse is no use
    thermal, rgb = read_point_pairs(args.pairs)
    fit = estimate_homography(thermal, rgb)
    for i, e in enumerate(fit.errors):
        flag = "  <- check this pair" if e > SUSPECT_PX else ""
        print(f"pair {i + 1:>3}: thermal ({thermal[i, 0]:.1f}, {thermal[i, 1]:.1f}) -> rgb ({rgb[i, 0]:.1f}, "
              f"{rgb[i, 1]:.1f}): error {e:.3f} px{flag}")
    print(f"{len(fit.errors)} pairs: reprojection error RMS {fit.rms:.3f} px, max {fit.max:.3f} px"
          + (" (4 pairs fit exactly: add more to measure the error)" if len(fit.errors) == 4 else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, homography_yaml(fit.h, fit, str(args.pairs), pair=args.pair).encode())
    if args.pair:
        print(f"wrote {out}: {args.pair}.thermal_homography for segmentation_node (after config/segment.yaml; "
              f"its pairs parameter must name {args.pair})")
    else:
        print(f"wrote {out}: thermal_homography for segmentation_node (after config/segment.yaml) or "
              "--thermal-homography")
    return 0
