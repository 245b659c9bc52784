"""Issue #12: does a Mixtral-style embedded model, without a shared expert, leave an allocation more room? (GPU)

On the shipped embedded model (Qwen1.5-MoE layout: 16 experts of 128, top-4, one shared expert) the best allocation
at 2.25 bits reaches 0.80 of uniform GPTQ w2g128's perplexity increase, and its own 'model' loss predicts no better;
the issue's reference measurement (0.44) came from a small Mixtral-style MoE. This script trains such a variant with
the shipped recipe (`mxmoe.embedded.train_embedded`: same data, tokenizer, schedule, seed and balance weight) in the
Qwen3-MoE layout -- 8 experts of 256, top-2, no shared expert: the same routed-expert parameters and active width --
and runs `bench/loss_validation.py` on it.

    PYTHONPATH=. MXMOE_DATA=/path/to/data python bench/style_probe.py --ids .devdata --out OUT [--quick]

--ids holds train/valid .npy token ids made with the committed tokenizer (`mxmoe.embedded.tokenize_splits`).
OUT/model is the variant; OUT/loss_validation.json and OUT/loss_validation_sensitivity.csv are the validation.
Expected on one H100: about 2 min of training, then about 5 min of validation. --quick trains 2 steps on the CPU
and runs the validation's --quick mode (a few minutes on 2 cores).
"""
import argparse, os, subprocess, sys
from pathlib import Path
import numpy as np
from transformers import Qwen3MoeConfig


def variant_config(vocab_size: int = 8192) -> Qwen3MoeConfig:
    "Qwen3-MoE config with the embedded model's width, depth, attention and routed-expert parameters, no shared expert."
    return Qwen3MoeConfig(vocab_size=vocab_size, hidden_size=256, num_hidden_layers=8, num_attention_heads=4,
                          num_key_value_heads=4, head_dim=64, max_position_embeddings=1024, intermediate_size=512,
                          moe_intermediate_size=256, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True,
                          tie_word_embeddings=True, bos_token_id=0, eos_token_id=0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--ids', default='.devdata', help='folder with train.npy and valid.npy')
    p.add_argument('--out', required=True)
    p.add_argument('--epochs', type=float, default=6)
    p.add_argument('--quick', action='store_true', help='2 training steps on the CPU and a --quick validation')
    a = p.parse_args()
    from mxmoe.embedded import embedded_dir, train_embedded
    out = Path(a.out)
    ids = {s: np.load(Path(a.ids)/f'{s}.npy') for s in ('train', 'valid')}
    quick = dict(max_steps=2, eval_every=2, device='cpu') if a.quick else dict(device='cuda')
    log = train_embedded(ids['train'], ids['valid'], variant_config(), out/'model', embedded_dir(), epochs=a.epochs, **quick)
    print(f"trained: best valid loss {log['best_valid_loss']:.4f} at step {log['best_step']}, {log['train_time_s']:.0f} s", flush=True)
    cmd = [sys.executable, 'bench/loss_validation.py', '--out', str(out/'loss_validation.json'),
           '--table-out', str(out/'loss_validation_sensitivity.csv')] + (['--quick', '--methods', 'gptq'] if a.quick else [])
    subprocess.run(cmd, env={**os.environ, 'MXMOE_EMBEDDED': str(out/'model')}, check=True)


if __name__ == '__main__':
    main()
