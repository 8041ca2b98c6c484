"""Graph rewrite: ``ConvTranspose`` → ``Conv`` (stride 1) or sub-pixel ``Conv``s + ``DepthToSpace``.

onnxruntime's CPU ``ConvTranspose`` (col2im over a GEMM) dominates the segmentation model's
time; rewritten as ordinary convolutions the same graph costs less CPU per call (the figures
are in docs/benchmarks.md, "The segmentation gap"; ``kiln export`` does not apply it yet). A
transposed convolution is exactly a set of ordinary convolutions:

- Stride 1: one ``Conv`` with the kernel flipped and its in/out channels swapped, padded by
  ``kernel - 1 - pad``.
- Stride ``s``: output pixel ``s·m + a`` only receives kernel taps ``k ≡ a + pad_begin (mod s)``
  ("sub-pixel" phases). Each of the ``s²`` phases is a small ``Conv`` over the input (for
  3×3, stride 2: 2×2, 2×1, 1×2 and 1×1 kernels — 9 taps in all, the same FLOPs), and
  ``DepthToSpace`` (DCR) interleaves the phases into the full-resolution output.

Only the case Keras' ``padding="same"`` produces is rewritten: 2-D, group 1, no dilation,
explicit pads with ``kernel - pad_begin - pad_end == stride`` so every phase has exactly the
input's size. Anything else is left alone. The parity gate then checks the result against
Keras like any other graph.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _plan(
    node: onnx.NodeProto, weight: np.ndarray
) -> tuple[list[int], list[int], list[int]] | None:
    """(kernel, strides, pads) when ``node`` is a rewritable ConvTranspose, else None."""
    attrs = _attributes(node)
    if weight.ndim != 4 or attrs.get("group", 1) != 1:
        return None
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or "output_shape" in attrs:
        return None
    if any(d != 1 for d in attrs.get("dilations", [1, 1])) or any(
        attrs.get("output_padding", [0, 0])
    ):
        return None
    kernel = list(weight.shape[2:])
    strides = list(attrs.get("strides", [1, 1]))
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    for axis in range(2):
        if (
            kernel[axis] - pads[axis] - pads[axis + 2] != strides[axis]
            or kernel[axis] < strides[axis]
        ):
            return None
    return kernel, strides, pads


def _phase_taps(kernel: int, stride: int, pad_begin: int, phase: int) -> dict[int, int]:
    """For output phase ``phase`` (output index ``stride·m + phase``): input offset → kernel
    tap, i.e. the output receives ``x[m + offset] · W[tap]`` for each entry."""
    taps = {}
    for tap in range(kernel):
        if (tap - phase - pad_begin) % stride == 0:
            taps[-(tap - phase - pad_begin) // stride] = tap
    return taps


def _window(taps: list[dict[int, int]]) -> tuple[int, int]:
    """The smallest window of input offsets holding offset 0 and every tap of ``taps``."""
    offsets = [offset for phase in taps for offset in phase] + [0]
    return min(offsets), max(offsets)


def _phase_weight(weight: np.ndarray, rows: dict, cols: dict, window_y, window_x) -> np.ndarray:
    """Conv weight (out, in, h, w) for one phase from the ConvTranspose weight (in, out, kh, kw)."""
    (low_y, high_y), (low_x, high_x) = window_y, window_x
    result = np.zeros(
        (weight.shape[1], weight.shape[0], high_y - low_y + 1, high_x - low_x + 1), weight.dtype
    )
    for offset_y, tap_y in rows.items():
        for offset_x, tap_x in cols.items():
            result[:, :, offset_y - low_y, offset_x - low_x] = weight[:, :, tap_y, tap_x].T
    return result


class _Builder:
    """Collects the nodes and initializers that replace one ConvTranspose."""

    def __init__(self, node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None):
        self.node, self.weight, self.bias = node, weight, bias
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, suffix: str, value: np.ndarray) -> str:
        name = f"{self.node.name}/{suffix}"
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def conv(self, suffix: str, weight: np.ndarray, bias, window_y, window_x, output: str) -> str:
        inputs = [self.node.input[0], self.constant(f"{suffix}/W", weight)]
        if bias is not None:
            inputs.append(self.constant(f"{suffix}/B", bias))
        pads = [-window_y[0], -window_x[0], window_y[1], window_x[1]]
        self.nodes.append(
            helper.make_node(
                "Conv",
                inputs,
                [output],
                name=f"{self.node.name}/{suffix}",
                kernel_shape=list(weight.shape[2:]),
                pads=pads,
            )  # fmt: skip
        )
        return output


def _replace(builder: _Builder, plan, merged: bool) -> None:
    kernel, strides, pads = plan
    stride, node = strides[0], builder.node
    rows = [_phase_taps(kernel[0], stride, pads[0], a) for a in range(stride)]
    cols = [_phase_taps(kernel[1], stride, pads[1], a) for a in range(stride)]
    if stride == 1:
        window_y, window_x = _window(rows), _window(cols)
        weight = _phase_weight(builder.weight, rows[0], cols[0], window_y, window_x)
        builder.conv("conv", weight, builder.bias, window_y, window_x, node.output[0])
        return
    phases = [(a_y, a_x) for a_y in range(stride) for a_x in range(stride)]
    if merged:  # one Conv over the union window with s²·out channels, in DCR order
        window_y, window_x = _window(rows), _window(cols)
        weight = np.concatenate(
            [_phase_weight(builder.weight, rows[y], cols[x], window_y, window_x) for y, x in phases]
        )
        bias = None if builder.bias is None else np.tile(builder.bias, len(phases))
        stacked = builder.conv("phases", weight, bias, window_y, window_x, f"{node.name}/phases")
    else:  # one Conv per phase, each over its own taps only: the ConvTranspose's FLOPs
        outputs = []
        for y, x in phases:
            window_y, window_x = _window([rows[y]]), _window([cols[x]])
            weight = _phase_weight(builder.weight, rows[y], cols[x], window_y, window_x)
            outputs.append(
                builder.conv(
                    f"phase{y}{x}", weight, builder.bias, window_y, window_x, f"{node.name}/p{y}{x}"
                )
            )
        stacked = f"{node.name}/phases"
        builder.nodes.append(helper.make_node("Concat", outputs, [stacked], axis=1, name=stacked))
    builder.nodes.append(
        helper.make_node(
            "DepthToSpace",
            [stacked],
            [node.output[0]],
            blocksize=stride,
            mode="DCR",
            name=f"{node.name}/interleave",
        )  # fmt: skip
    )


def conv_transpose_to_conv(proto: onnx.ModelProto, merged: bool = True) -> int:
    """Rewrite every eligible ConvTranspose of ``proto`` in place; returns how many.

    ``merged``: a strided ConvTranspose becomes one Conv with s²·out channels over the union
    window (more multiply-adds on zero taps, one large GEMM) instead of s² small Convs.
    """
    graph = proto.graph
    initializers = {init.name: init for init in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    added: list[onnx.TensorProto] = []
    rewritten = 0
    for node in graph.node:
        weight_init = initializers.get(node.input[1]) if node.op_type == "ConvTranspose" else None
        weight = None if weight_init is None else numpy_helper.to_array(weight_init)
        plan = None if weight is None else _plan(node, weight)
        bias_name = node.input[2] if len(node.input) > 2 else ""
        if (
            weight is None
            or plan is None
            or plan[1][0] != plan[1][1]
            or (bias_name and bias_name not in initializers)
        ):
            nodes.append(node)
            continue
        bias = numpy_helper.to_array(initializers[bias_name]) if bias_name else None
        builder = _Builder(node, weight, bias)
        _replace(builder, plan, merged)
        nodes.extend(builder.nodes)
        added.extend(builder.initializers)
        rewritten += 1
    if rewritten:
        used = {name for node in nodes for name in node.input}
        kept = [init for init in [*graph.initializer, *added] if init.name in used]
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return rewritten
