"""Registers and spills of the generated kernels of one layer, compiled for sm_90a on this machine (issue #6; no GPU).

Generates the gate_up and down kernels of a uniform or mixed weight-only allocation (as `bench_grouped.py` builds it
for a model shape and token count), compiles each for an H100 with its launch options (`{LINEAR}_LAUNCH`,
`mxmoe.codegen.compile_sm90`) and prints what ptxas reports (`ptxas_usage`). Registers decide how many programs share a
multiprocessor (the Gluon gate_up's 206 on Mixtral's shape at 64 tokens allow two), so a change to the decode loop can
be checked here before it goes to the device. `--loops` also prints each kernel's loops as `nvdisasm` (from Triton's
wheel) shows them: SASS instructions an iteration and the most frequent opcodes, e.g. a decode tile's group loop
(w2g128 gate_up at 16 tokens on Qwen1.5-MoE's shape, Triton 3.6: 305 instructions a group, 64 `LOP3` and 56 `SHF`
of them the unpacking). Use the device's Triton for numbers that match it, e.g. from `pip download triton==3.6.0`
installed with `pip install --no-deps --target /tmp/t36`:

    PYTHONPATH=/tmp/t36:. python bench/kernel_regs.py --model mixtral --config w4g128 --tokens 64 [--loops]
"""
import argparse, collections, os, re, subprocess, sys, tempfile
from pathlib import Path
import triton
from bench.bench_grouped import MODELS, allocation
from mxmoe.codegen import LINEARS, compile_sm90, load_kernels, ptxas_usage


def sass_lines(kernel) -> list:
    "The SASS instructions of a kernel from `compile_sm90` in order, each label (`.L_x_N`) as an entry of its own."
    nvdisasm = Path(triton.__file__).parent / 'backends' / 'nvidia' / 'bin' / 'nvdisasm'
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / 'k.cubin').write_bytes(kernel.asm['cubin'])
        out = subprocess.run([str(nvdisasm), '-c', str(Path(d) / 'k.cubin')], capture_output=True, text=True, check=True).stdout
    lines = []
    for l in out.splitlines():
        if m := re.match(r'\s*(\.L_x_\d+):', l): lines.append(m.group(1))
        elif m := re.match(r'\s*/\*[0-9a-f]+\*/\s+(.*?)\s*;', l): lines.append(m.group(1))
    return lines

def loop_mix(lines:list, top:int=12) -> list:
    "(instructions an iteration, most frequent opcodes) of each loop: a label up to a branch back to it (not the self-branch that ends a kernel)."
    at, loops = {}, []
    for i, l in enumerate(lines):
        if l.startswith('.L_x_'): at[l] = i
        elif (m := re.search(r'BRA\b.*?(\.L_x_\d+)', l)) and m.group(1) in at:
            body = [b for b in lines[at[m.group(1)]:i + 1] if not b.startswith('.L_x_')]
            if len(body) == 1: continue
            ops = collections.Counter(re.sub(r'^@!?U?P\w+\s+', '', b).split()[0].split('.')[0] for b in body)
            loops.append((len(body), ops.most_common(top)))
    return loops

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', choices=list(MODELS), default='mixtral')
    ap.add_argument('--config', default='w4g128', help="a weight-only config, or 'mixed225'")
    ap.add_argument('--tokens', type=int, default=64)
    ap.add_argument('--loops', action='store_true', help="also each loop's SASS instructions an iteration and opcodes")
    args = ap.parse_args()
    E, H, I, k = MODELS[args.model]
    os.environ.setdefault('MXMOE_KERNEL_DIR', tempfile.mkdtemp(prefix='kernel_regs_'))  # not the repository's kernels/
    mod = load_kernels(allocation(args.config, E, args.tokens * k / E, H, I))
    print(f"{args.model} {args.config} at {args.tokens} tokens, Triton {triton.__version__}, sm_90a")
    for l in LINEARS:
        launch = getattr(mod, f'{l.upper()}_LAUNCH')
        try: kernel = compile_sm90(getattr(mod, f'{l}_kernel'), launch)
        except ValueError as e: sys.exit(f"{args.config}: {e}")
        use = ptxas_usage(kernel)
        print(f"{l:8s} {getattr(mod, f'{l.upper()}_BRANCHES')} {launch}: {use['regs']} registers, {use['spills']} bytes spilled", flush=True)
        for n, ops in loop_mix(sass_lines(kernel)) if args.loops else []:
            print(f"  loop of {n} instructions: " + ', '.join(f'{op} {c}' for op, c in ops))


if __name__ == '__main__':
    main()
