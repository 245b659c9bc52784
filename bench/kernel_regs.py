"""Registers and spills of the generated kernels of one layer, compiled for sm_90a on this machine (issue #6; no GPU).

Generates the gate_up and down kernels of a uniform or mixed weight-only allocation (as `bench_grouped.py` builds it
for a model shape and token count), compiles each for an H100 with its launch options (`{LINEAR}_LAUNCH`) and prints
what ptxas reports. Registers decide how many programs share a multiprocessor (the Gluon gate_up's 206 on Mixtral's
shape at 64 tokens allow two), so a change to the decode loop can be checked here before it goes to the device. Use the
device's Triton for numbers that match it, e.g. from `pip download triton==3.6.0` installed with `--target /tmp/t36`:

    PYTHONPATH=/tmp/t36:. python bench/kernel_regs.py --model mixtral --config w4g128 --tokens 64
"""
import argparse, importlib.util, os, re, subprocess, sys, tempfile
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from triton.experimental.gluon._runtime import GluonASTSource
from bench.bench_grouped import MODELS, allocation
from mxmoe.codegen import LINEARS, _branches, generate_source, normalize_allocation
from mxmoe.quant import get_config

SIGNATURE = dict(x_ptr='*bf16', xsum_ptr='*fp32', hsum_ptr='*fp32', sorted_ptr='*i32', out_ptr='*bf16', counts_ptr='*i32',
                 branch_ptr='*i32', slot_ptr='*i32', bm_ptr='*i32', nt_ptr='*i32', rw_ptr='*fp32', sum_ptr='*bf16',
                 tickets_ptr='*i32', N='i32', K='i32', E='i32', TOPK='i32', A='i32')  # a weight-only launch's arguments
BRANCH = {'q0': '*i32', 'q1': '*i32', 's': '*fp16', 'z': '*fp16'}  # b<i>_<field>: packed words, fp16 scales and zeros
DIVISIBLE = ('N', 'K')  # integers the launch specializes as multiples of 16 (every profiled shape's)


def ptxas_path() -> str:
    "The ptxas of Triton's wheel that reads its PTX (the Blackwell one where the wheel has it)."
    bin_dir = os.path.join(os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin')
    return next(p for p in (os.path.join(bin_dir, n) for n in ('ptxas-blackwell', 'ptxas')) if os.path.exists(p))


def load_module(source: str):
    "Import generated kernel source from a temporary file."
    path = os.path.join(tempfile.mkdtemp(prefix='kernel_regs_'), 'kernels.py')
    open(path, 'w').write(source)
    spec = importlib.util.spec_from_file_location('kernels', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compile_report(fn, launch: dict, sm: int = 90) -> str:
    "ptxas's registers and spill stores of kernel `fn` compiled for sm_<sm>a with launch options `launch`."
    consts = {'EP2': 256, 'SUM': 2}  # room for 255 experts; the down launch's fused top-k sum of 2 slots
    sig = {a: 'constexpr' if a in consts else SIGNATURE.get(a) or BRANCH[a.split('_', 1)[1]] for a in fn.arg_names}
    attrs = {(i,): [['tt.divisibility', 16]] for i, (a, t) in enumerate(sig.items()) if t.startswith('*') or a in DIVISIBLE}
    source = (GluonASTSource if 'gluon' in type(fn).__module__ else ASTSource)(
        fn=fn, signature=sig, constexprs={a: consts[a] for a in fn.arg_names if a in consts}, attrs=attrs)
    ck = triton.compile(source, target=GPUTarget('cuda', sm, 32), options=dict(launch))
    with tempfile.NamedTemporaryFile('w', suffix='.ptx', delete=False) as f: f.write(ck.asm['ptx'])
    log = subprocess.run([ptxas_path(), f'-arch=sm_{sm}a', '-v', f.name, '-o', os.devnull], capture_output=True, text=True).stderr
    found = re.findall(r'Used \d+ registers|\d+ bytes spill stores', log)
    return ', '.join(found) if found else log[-400:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', choices=list(MODELS), default='mixtral')
    ap.add_argument('--config', default='w4g128', help="a weight-only config, or 'mixed225'")
    ap.add_argument('--tokens', type=int, default=64)
    args = ap.parse_args()
    E, H, I, k = MODELS[args.model]
    a = normalize_allocation(allocation(args.config, E, args.tokens * k / E, H, I))
    if not all(get_config(c).weight_only for l in LINEARS for c, _ in _branches(a, l)):
        sys.exit(f"{args.config}: kernel_regs.py knows the arguments of weight-only launches only; pick a weight-only config")
    mod = load_module(generate_source(a))
    print(f"{args.model} {args.config} at {args.tokens} tokens, Triton {triton.__version__}, sm_90a")
    for l in LINEARS:
        print(f"{l:8s} {getattr(mod, f'{l.upper()}_BRANCHES')} {getattr(mod, f'{l.upper()}_LAUNCH')}: "
              f"{compile_report(getattr(mod, f'{l}_kernel'), getattr(mod, f'{l.upper()}_LAUNCH'))}", flush=True)


if __name__ == '__main__':
    main()
