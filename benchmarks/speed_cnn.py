"""ms/frame of the CNN localizer per backend (512x512 -> positions) vs trackpy.locate.

Usage: .venv/bin/python benchmarks/speed_cnn.py [--model spots] [--frames 20]
"""

import argparse
import os

import pandas as pd

from livetrack.infer._speed import measure_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="spots")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--backends", default="onnxruntime,torch")
    parser.add_argument("--no-trackpy", action="store_true")
    args = parser.parse_args()
    results = measure_speed(
        model=args.model,
        backends=tuple(args.backends.split(",")),
        n_frames=args.frames,
        include_trackpy=not args.no_trackpy,
    )
    table = pd.DataFrame([r.to_dict() for r in results])
    print(f"cores available: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()}")
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
