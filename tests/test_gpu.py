"""The CUDA path: the scan of mamba-ssm (when installed) against the CPU scan, and a file made on the GPU
decoded on the CPU. Skipped where there is no CUDA device."""
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_cuda_scan_matches_the_cpu_scan():
    from icisp_codec.model.scan import backend_name, selective_scan

    g = torch.Generator().manual_seed(0)
    args = [torch.randn(1, 8, 50, generator=g), torch.randn(1, 8, 50, generator=g), -torch.rand(8, 4, generator=g),
            torch.randn(1, 4, 4, 50, generator=g), torch.randn(1, 4, 4, 50, generator=g), torch.randn(8, generator=g),
            torch.randn(8, generator=g)]
    cpu = selective_scan(*args)
    gpu = selective_scan(*[a.cuda() for a in args]).cpu()
    print("CUDA scan backend:", backend_name("cuda"))
    assert ((gpu - cpu).abs().max() / cpu.abs().max()) < 1e-4


def test_a_file_made_on_the_gpu_decodes_on_the_cpu(tiny_weights):
    import numpy as np

    from icisp_codec.codec import Codec

    from .conftest import dev_image

    rgb = dev_image("coffee.png")[:64, :96]
    data, _ = Codec.load(tiny_weights, device="cuda", bf16=False).encode(rgb, 2.5)
    on_cpu, _ = Codec.load(tiny_weights, device="cpu", bf16=False).decode(data)  # the symbol CRC must hold
    on_gpu, _ = Codec.load(tiny_weights, device="cuda", bf16=False).decode(data)
    assert np.abs(on_cpu.astype(int) - on_gpu).max() <= 2
