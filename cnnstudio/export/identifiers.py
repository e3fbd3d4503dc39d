"""Layer ids made into safe Python identifiers: the one gate between a model file and code.

A model file may come from anyone, and its ids are free text ("conv 1", "__import__('os')",
"in"). Every exporter that writes names into code or graph files takes them from here, so there
is exactly one function to get right: it keeps only ASCII letters, digits and underscores,
never yields a keyword, a builtin, a dunder or a name ``torch.nn.Module`` already uses, and
resolves collisions ("conv-1" and "conv_1") with numbered suffixes in file order.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable

#: Public attributes of ``torch.nn.Module`` (torch 2.x). A layer attribute with one of these
#: names would replace a method of the exported module; tests compare this set with the
#: installed torch so a new torch method is noticed.
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
    "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
    "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad",
})

#: Names the generated code itself uses (module aliases, ``self``): a layer named ``F`` must not
#: shadow ``torch.nn.functional`` inside ``forward``.
GENERATED_NAMES = frozenset({"self", "torch", "nn", "F", "np", "cls", "x"})

_RESERVED = (frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
             | MODULE_ATTRIBUTES | GENERATED_NAMES)
_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")
_UNDERSCORES = re.compile(r"__+")


def python_identifiers(ids: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """Map each id to a distinct, safe Python identifier, in the order given.

    ``reserved`` adds names the caller uses elsewhere (they are avoided like keywords). The
    result is deterministic, so exporting the same model twice gives the same code.
    """
    avoid = _RESERVED | frozenset(reserved)
    taken: set[str] = set()
    out: dict[str, str] = {}
    for layer_id in ids:
        if layer_id in out:
            continue
        base = _base_identifier(layer_id)
        if base in avoid:
            base += "_layer"
        name, n = base, 2
        while name in taken or name in avoid:
            name = f"{base}_{n}"
            n += 1
        taken.add(name)
        out[layer_id] = name
    return out


def _base_identifier(text: str) -> str:
    """ASCII word characters only, no leading/trailing/double underscores, no leading digit."""
    word = _UNDERSCORES.sub("_", _NOT_WORD.sub("_", text)).strip("_")
    if not word:
        return "layer"
    if word[0].isdigit():
        word = "layer_" + word
    return word
