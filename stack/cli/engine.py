"""`l4 engine info|build|bench|compare MODEL`: inspect ONNX models, build cached TensorRT
engines, time a backend against a bare ONNX Runtime session, and compare two backends."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stack.cli.errors import CliError

BACKENDS = ("auto", "tensorrt", "onnxruntime")
PRECISIONS = ("fp32", "fp16", "int8")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("engine", help="inspect, build, benchmark and compare inference engines")
    cmds = p.add_subparsers(dest="engine_command", metavar="ACTION", required=True)

    info = cmds.add_parser("info", help="inputs, outputs, opset, ops, parameters, FLOPs")
    info.add_argument("model", type=Path)
    info.add_argument("--batch", type=int, default=1, help="dynamic dims for FLOPs (default 1)")
    info.add_argument("--json", type=Path, metavar="OUT", help="also write the info as JSON")
    info.set_defaults(func=run_info)

    build = cmds.add_parser("build", help="build (or find cached) a TensorRT engine")
    build.add_argument("model", type=Path)
    _engine_options(build)
    build.add_argument("--dla", type=int, metavar="N", help="DLA core, GPU fallback")
    build.add_argument("--calib", metavar="BAG:TOPIC|DIR", help="INT8 calibration images")
    build.add_argument("--rgb", action="store_true", help="calibration: network wants RGB")
    build.add_argument("--sparse", action="store_true", help="SPARSE_WEIGHTS")
    build.add_argument("--max-batch", type=int, default=1, help="dynamic batch upper bound")
    build.add_argument("--workspace-mb", type=int, default=1024)
    build.add_argument("--rebuild", action="store_true", help="build even when cached")
    build.set_defaults(func=run_build)

    bench = cmds.add_parser("bench", help="p50/p99 latency and throughput")
    bench.add_argument("model", type=Path)
    bench.add_argument("--backend", choices=BACKENDS, default="onnxruntime")
    _engine_options(bench)
    bench.add_argument("--iters", type=int, default=200)
    bench.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    bench.add_argument("--batch", type=int, default=1, help="for a dynamic batch dim")
    bench.add_argument(
        "--no-baseline", action="store_true", help="skip the bare InferenceSession comparison"
    )
    bench.add_argument("--json", type=Path, metavar="OUT")
    bench.set_defaults(func=run_bench)

    cmp = cmds.add_parser("compare", help="max abs / rel output error of two backends")
    cmp.add_argument("model", type=Path)
    cmp.add_argument("--backend", choices=BACKENDS, required=True)
    cmp.add_argument("--ref", choices=BACKENDS, default="onnxruntime")
    _engine_options(cmp)
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--batch", type=int, default=1)
    cmp.add_argument("--tol", type=float, help="exit 1 when any max abs error exceeds this")
    cmp.add_argument("--json", type=Path, metavar="OUT")
    cmp.set_defaults(func=run_compare)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--cache-dir", type=Path, help="engine cache (default ~/.cache/l4stack)")


def _emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def _load(model: Path, backend: str, args: argparse.Namespace, **extra: Any) -> Any:
    from stack.engine import EngineError, EngineOptions, load_engine

    try:
        options = EngineOptions.of(
            backend=backend, precision=args.precision, cache_dir=args.cache_dir, **extra
        )
        return load_engine(model, options)
    except EngineError as exc:
        raise CliError(str(exc)) from None


def model_info(path: Path, batch: int = 1) -> dict[str, Any]:
    from stack.engine.flops import count_flops
    from stack.engine.model import read_model

    model = read_model(path)
    flops = count_flops(model, dynamic=batch)
    return {
        "model": str(path),
        "sha256": model.sha256,
        "opset": model.opset,
        "inputs": [s.describe() for s in model.inputs],
        "outputs": [s.describe() for s in model.outputs],
        "parameters": model.parameter_count(),
        "flops": flops.flops,
        "macs": flops.macs,
        "flops_batch": batch,
        "flops_unknown_nodes": flops.unknown_nodes,
        "quantized_qdq": model.has_qdq,
        "ops": dict(model.op_histogram().most_common()),
    }


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:g}"


def run_info(args: argparse.Namespace) -> int:
    from stack.engine import EngineError

    try:
        info = model_info(args.model, args.batch)
    except EngineError as exc:
        raise CliError(str(exc)) from None
    print(f"{info['model']}  opset {info['opset']}  sha256 {info['sha256'][:16]}")
    for s in info["inputs"]:
        print(f"  input   {s}")
    for s in info["outputs"]:
        print(f"  output  {s}")
    print(f"  parameters {info['parameters']:,}")
    print(
        f"  FLOPs/inference {_si(info['flops'])} (MACs {_si(info['macs'])}, "
        f"batch {info['flops_batch']}; {info['flops_unknown_nodes']} nodes without shapes)"
    )
    print("  ops " + ", ".join(f"{op} {n}" for op, n in info["ops"].items()))
    _emit(info, args.json)
    return 0


def run_build(args: argparse.Namespace) -> int:
    from stack.engine import ChannelOrder, Preprocess

    preprocess = Preprocess(channel_order=ChannelOrder.RGB if args.rgb else ChannelOrder.BGR)
    engine = _load(
        args.model,
        "tensorrt",
        args,
        dla_core=args.dla,
        sparse_weights=args.sparse,
        calibration=args.calib,
        preprocess=preprocess,
        max_batch=args.max_batch,
        workspace_mb=args.workspace_mb,
        rebuild=args.rebuild,
    )
    print(f"{engine!r}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from stack.engine.measure import bench_engine

    if args.iters < 1:
        raise CliError(f"--iters {args.iters} must be >= 1")
    engine = _load(args.model, args.backend, args, intra_op_threads=args.threads)
    result = bench_engine(
        engine, args.model, args.iters, args.threads, args.batch, not args.no_baseline
    )
    print(json.dumps(result, indent=2))
    _emit(result, args.json)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from stack.engine import example_feeds
    from stack.engine.measure import output_errors

    engine = _load(args.model, args.backend, args)
    ref = _load(args.model, args.ref, args)
    feeds = example_feeds(ref.inputs, dynamic=args.batch, seed=args.seed)
    errors = output_errors(engine.run(feeds), ref.run(feeds))
    result = {
        "model": str(args.model),
        "backend": f"{engine.backend.value} ({engine.device})",
        "ref": f"{ref.backend.value} ({ref.device})",
        "outputs": [e.to_dict() for e in errors],
    }
    for e in errors:
        print(f"{e.name}: max abs {e.max_abs:.3g}  max rel {e.max_rel:.3g}")
    _emit(result, args.json)
    if args.tol is not None and any(e.max_abs > args.tol for e in errors):
        return 1
    return 0
