"""vqaloop.models.portable: linear layers on numpy's BLAS, and the pre-norm encoder layer built from them.

Checked against torch's own layers (the values an independent implementation computes), and for the property they
exist for: their products do not change with MKL's branch, which torch's do (the control)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from vqaloop.dispatch import ENV_SWITCH, PORTABLE_ENV
from vqaloop.models.portable import PortableEncoderLayer, PortableLinear, portable_linear, portable_matmul


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5), (2, 3, 4, 5)])
def test_portable_linear_and_its_gradients_equal_torchs(shape):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(6, 5, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(portable_linear, (x, w, b))
    assert torch.autograd.gradcheck(lambda x, w: portable_linear(x, w), (x, w))
    y = portable_linear(x, w, b)
    assert y.shape == (*shape[:-1], 6)
    torch.testing.assert_close(y, nn.functional.linear(x, w, b), rtol=1e-12, atol=1e-12)


def test_input_gradient_is_skipped_when_not_needed_and_other_dtypes_fall_back():
    layer = PortableLinear(5, 3)
    x = torch.randn(4, 5)  # no gradient wanted: the backward computes the weight's and the bias's only
    layer(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad, torch.ones(3, 4) @ x)
    torch.testing.assert_close(layer.bias.grad, torch.full((3,), 4.0))
    half = PortableLinear(5, 3).to(torch.bfloat16)
    assert half(x.to(torch.bfloat16)).dtype == torch.bfloat16
    assert set(PortableLinear(5, 3).state_dict()) == set(nn.Linear(5, 3).state_dict())


def test_encoder_layer_equals_torchs_pre_norm_layer_with_the_same_weights():
    torch.manual_seed(0)
    ours = PortableEncoderLayer(16, 4, 32, dropout=0.1).eval()
    theirs = nn.TransformerEncoderLayer(16, 4, 32, 0.1, batch_first=True, norm_first=True).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_()
        theirs.self_attn.in_proj_weight.copy_(ours.qkv.weight)
        theirs.self_attn.in_proj_bias.copy_(ours.qkv.bias)
        theirs.self_attn.out_proj.weight.copy_(ours.out.weight)
        theirs.self_attn.out_proj.bias.copy_(ours.out.bias)
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(theirs, name).load_state_dict(getattr(ours, name).state_dict())
        x = torch.randn(3, 9, 16)
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
    ours.train()
    torch.manual_seed(1)
    a = ours(x)
    torch.manual_seed(1)
    assert torch.equal(a, ours(x)) and not torch.equal(a, ours(x))  # dropout: seeded, and on in training


# one training step of a small student-like stack on each path; prints a digest of the output and the gradients
PROBE = """
import hashlib, sys
from vqaloop.dispatch import pin
pin()
import torch
from vqaloop.models.portable import PortableEncoderLayer, PortableLinear
torch.set_num_threads(1)
torch.manual_seed(0)
if sys.argv[1] == "portable":
    model = torch.nn.Sequential(PortableLinear(300, 64), PortableEncoderLayer(64, 4, 128, 0.0), PortableLinear(64, 5))
else:
    model = torch.nn.Sequential(torch.nn.Linear(300, 64), torch.nn.Linear(64, 128), torch.nn.Linear(128, 5))
out = model(torch.randn(32, 9, 300))
out.square().sum().backward()
digest = hashlib.sha256(out.detach().numpy().tobytes())
for p in model.parameters():
    digest.update(p.grad.numpy().tobytes())
print(digest.hexdigest())
"""


def digest(path: str, extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENV and k != ENV_SWITCH}
    env.update({ENV_SWITCH: "native", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "OPENBLAS_CORETYPE": "Haswell", **extra})  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", PROBE, path], env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def test_portable_products_do_not_follow_mkls_branch_and_torchs_do():
    """Unpinned (native), only OpenBLAS's kernel fixed: MKL's branch and torch's ISA do not reach the portable layers;
    torch's own linear layers change with MKL's branch (the control: the setting does reach the kernels)."""
    compatible = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2"}
    other = {"MKL_CBWR": "AUTO", "ATEN_CPU_CAPABILITY": "avx2"}
    assert digest("portable", compatible) == digest("portable", other)
    assert digest("torch", compatible) != digest("torch", other)


def test_portable_matmul_and_its_gradients_equal_torchs():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(portable_matmul, (a, b))
    assert torch.autograd.gradcheck(portable_matmul, (a, b.detach()))
    torch.testing.assert_close(portable_matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
