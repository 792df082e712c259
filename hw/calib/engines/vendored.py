"""vendored: makes the vLLM and SGLang kernel files kept verbatim in <repo>/.kern/ importable.

Those files are not part of llmsim (Apache-2.0 code of other projects, never committed; see
KERNELS.md for how to re-create .kern/). They import a few things from their own packages;
this module installs minimal stand-ins for exactly those names, then loads each file under its
original module name:

  vllm.logger.init_logger                    -> logging.getLogger
  vllm.platforms.current_platform            -> CUDA: fp8_dtype() = torch.float8_e4m3fn,
                                                is_rocm() / is_xpu() False, is_cuda() True
  vllm.triton_utils.tl, .triton              -> the installed triton
  vllm.model_executor.layers.batch_invariant.vllm_is_batch_invariant -> False (vLLM default)
  sglang.srt.utils.is_hip                    -> False
  sglang.srt.layers.attention.triton_ops.prefill_attention.context_attention_fwd
                                             -> raises (only SGLang's test helper
                                                redundant_attention calls it)

load(name) returns the module; a missing .kern/ raises KernMissing with the fix.
LLMSIM_KERN_DIR overrides the directory.
"""
import importlib.util
import logging
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
KERN = os.environ.get("LLMSIM_KERN_DIR", os.path.join(HERE, "..", "..", "..", ".kern"))

# name -> (module name inside its project, path under .kern/)
FILES = {
    "vllm_unified_attention": ("vllm.v1.attention.ops.triton_unified_attention",
                               "vllm/vllm/v1/attention/ops/triton_unified_attention.py"),
    "vllm_reshape_and_cache": ("vllm.attention.ops.triton_reshape_and_cache_flash",
                               "vllm/vllm/attention/ops/triton_reshape_and_cache_flash.py"),
    "vllm_awq_triton": ("vllm.model_executor.layers.quantization.awq_triton",
                        "vllm/vllm/model_executor/layers/quantization/awq_triton.py"),
    "sglang_decode": ("sglang.srt.layers.attention.triton_ops.decode_attention",
                      "sglang/python/sglang/srt/layers/attention/triton_ops/decode_attention.py"),
    "sglang_extend": ("sglang.srt.layers.attention.triton_ops.extend_attention",
                      "sglang/python/sglang/srt/layers/attention/triton_ops/extend_attention.py"),
}


class KernMissing(RuntimeError):
    pass


class _CudaPlatform:
    """The four methods of vllm.platforms.current_platform the vendored files call."""

    @staticmethod
    def fp8_dtype():
        import torch
        return torch.float8_e4m3fn

    @staticmethod
    def is_rocm():
        return False

    @staticmethod
    def is_xpu():
        return False

    @staticmethod
    def is_cuda():
        return True


def _module(name, **attrs):
    """A stand-in module (and its parent packages) registered in sys.modules."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        pkg = ".".join(parts[:i])
        if pkg not in sys.modules or not getattr(sys.modules[pkg], "_llmsim_standin", False):
            m = types.ModuleType(pkg)
            m.__path__ = []
            m._llmsim_standin = True
            sys.modules[pkg] = m
    m = sys.modules.get(name)
    if m is None or not getattr(m, "_llmsim_standin", False):
        m = types.ModuleType(name)
        m.__path__ = []
        m._llmsim_standin = True
        sys.modules[name] = m
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


def _no_context_attention(*a, **k):
    raise NotImplementedError("llmsim stand-in: SGLang context_attention_fwd is not vendored")


_installed = False


def install_standins():
    global _installed
    if _installed:
        return
    import triton
    import triton.language as tl
    _module("vllm.logger", init_logger=logging.getLogger)
    _module("vllm.platforms", current_platform=_CudaPlatform())
    _module("vllm.triton_utils", tl=tl, triton=triton)
    _module("vllm.model_executor.layers.batch_invariant", vllm_is_batch_invariant=lambda: False)
    _module("sglang.srt.utils", is_hip=lambda: False)
    _module("sglang.srt.layers.attention.triton_ops.prefill_attention",
            context_attention_fwd=_no_context_attention)
    _installed = True


_loaded = {}


def path_of(name):
    return os.path.normpath(os.path.join(KERN, FILES[name][1]))


def load(name):
    """The vendored module `name` (a key of FILES)."""
    if name in _loaded:
        return _loaded[name]
    modname, _ = FILES[name]
    path = path_of(name)
    if not os.path.exists(path):
        raise KernMissing(f"{path} is missing: .kern/ holds the vendored vLLM/SGLang kernels and is "
                          f"not committed; re-create it as hw/calib/engines/KERNELS.md says (or set "
                          f"LLMSIM_KERN_DIR), and pass it to the GPU run with carry ['.kern']")
    install_standins()
    parent = modname.rsplit(".", 1)[0]
    _module(parent)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    _loaded[name] = mod
    return mod


def sources():
    """Rows of .kern/SOURCES.txt: dicts with local, repo, path, commit, licence, chars."""
    p = os.path.join(KERN, "SOURCES.txt")
    rows = []
    if not os.path.exists(p):
        return rows
    with open(p) as f:
        for line in f:
            if line.startswith("#") or "|" not in line:
                continue
            c = [x.strip() for x in line.split("|")]
            if len(c) >= 5:
                rows.append({"local": c[0], "repo": c[1], "path": c[2], "commit": c[3],
                             "licence": c[4], "chars": c[5] if len(c) > 5 else ""})
    return rows


def check_files():
    """[(local path, expected chars, actual chars or None)] for every SOURCES.txt row."""
    out = []
    for r in sources():
        p = os.path.join(KERN, r["local"])
        n = None
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                n = len(f.read())
        out.append((r["local"], r["chars"], n))
    return out


def commits_line():
    rows = sources()
    if not rows:
        return "no .kern/SOURCES.txt"
    return "; ".join(f"{r['repo']}:{r['path']}@{r['commit'][:12]}" for r in rows)
