"""Registers and spills of the generated kernels of one layer, compiled for sm_90a on this machine (issue #6; no GPU).

Generates the gate_up and down kernels of a uniform or mixed weight-only allocation (as `bench_grouped.py` builds it
for a model shape and token count), compiles each for an H100 with its launch options (`{LINEAR}_LAUNCH`,
`mxmoe.codegen.compile_sm90`) and prints what ptxas reports (`ptxas_usage`). Registers decide how many programs share a
multiprocessor (the Gluon gate_up's 206 on Mixtral's shape at 64 tokens allow two), so a change to the decode loop can
be checked here before it goes to the device. Use the device's Triton for numbers that match it, e.g. from
`pip download triton==3.6.0` installed with `pip install --no-deps --target /tmp/t36`:

    PYTHONPATH=/tmp/t36:. python bench/kernel_regs.py --model mixtral --config w4g128 --tokens 64
"""
import argparse, os, sys, tempfile
import triton
from bench.bench_grouped import MODELS, allocation
from mxmoe.codegen import LINEARS, compile_sm90, load_kernels, ptxas_usage


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', choices=list(MODELS), default='mixtral')
    ap.add_argument('--config', default='w4g128', help="a weight-only config, or 'mixed225'")
    ap.add_argument('--tokens', type=int, default=64)
    args = ap.parse_args()
    E, H, I, k = MODELS[args.model]
    os.environ.setdefault('MXMOE_KERNEL_DIR', tempfile.mkdtemp(prefix='kernel_regs_'))  # not the repository's kernels/
    mod = load_kernels(allocation(args.config, E, args.tokens * k / E, H, I))
    print(f"{args.model} {args.config} at {args.tokens} tokens, Triton {triton.__version__}, sm_90a")
    for l in LINEARS:
        launch = getattr(mod, f'{l.upper()}_LAUNCH')
        try: use = ptxas_usage(compile_sm90(getattr(mod, f'{l}_kernel'), launch))
        except ValueError as e: sys.exit(f"{args.config}: {e}")
        print(f"{l:8s} {getattr(mod, f'{l.upper()}_BRANCHES')} {launch}: {use['regs']} registers, {use['spills']} bytes spilled", flush=True)


if __name__ == '__main__':
    main()
