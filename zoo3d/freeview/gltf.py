"""Write a :class:`~zoo3d.freeview.cache.ManifoldCache` as glTF 2.0: binary ``.glb`` or a self-contained ``.gltf``.

What the file holds (standard glTF 2.0 only; written by hand, no dependency):

* one mesh and node per layer that holds triangles (glTF has no empty mesh), the nodes listed **back to front**
  (background, then manifold N - 1 ... manifold 0): the order in which they must be blended. Each node's
  ``extras.zoo3d`` has ``draw_order`` (0 = first) and ``layer`` (the cache's front-to-back index);
* per primitive: ``POSITION`` (float32, world units = metres, +Y up, the subject facing +Z, as glTF),
  ``TEXCOORD_0`` (float32), ``indices`` (uint32); triangles counter-clockwise seen from the front, single-
  sided (back faces culled, as the manifold renderer ignores a level left from inside);
* per layer one PNG texture (RGBA for manifolds, RGB for the background), sampled linearly, clamped to the
  edge; materials with ``alphaMode`` ``BLEND`` (manifolds) or ``OPAQUE`` (background), metallic 0,
  roughness 1, and ``KHR_materials_unlit`` (used, not required) so viewers show the radiance as baked;
* a perspective camera node at the camera prior's mean pose (vertical fov of the prior), or for an inversion's cache
  at its input view (``input_view`` below);
* ``asset.extras.zoo3d``: the cache's metadata (model, seed, psi, camera prior, and ``backdrop``: the rgb behind
  every layer, white for a model with a white background; an inversion's has ``image``, the photo's file name, and
  ``input_view``, the ``yaw``, ``pitch``, ``radius`` and ``fov`` of the view it was inverted from, in place of seed and
  psi). No path of the machine that wrote it (the photo's folder, the checkpoint, the run) is written.

Texture values are GRAM's display values, which viewers read as sRGB: a layer alone looks as in zoo3d, but
viewers that blend in linear light composite semi-transparent layers slightly differently from GRAM's rule;
zoo3d's viewer blends the raw values.
"""

from __future__ import annotations

import base64
import io
import json
import math
import struct
from pathlib import Path

import numpy as np
import torch

from zoo3d import __version__
from zoo3d.errors import UserError

__all__ = ["glb_bytes", "gltf_document", "read_glb_json", "write_gltf"]

_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_FLOAT, _UNSIGNED_INT = 5126, 5125
_LINEAR, _CLAMP_TO_EDGE = 9729, 33071
_GLB_MAGIC, _JSON_CHUNK, _BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


def _png(texture: torch.Tensor, with_alpha: bool) -> bytes:
    """(4, R, R) float texture (row 0 at the top) -> PNG bytes, values clamped to [0, 1] and rounded to 8 bits."""
    from PIL import Image

    channels = 4 if with_alpha else 3
    arr = (texture[:channels].float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), "RGBA" if with_alpha else "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _quaternion(m: np.ndarray) -> list[float]:
    """Unit quaternion (x, y, z, w) of a 3x3 rotation matrix."""
    w = math.sqrt(max(0.0, 1 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    return [x, y, z, w]


def _camera_node(prior: dict | None, view: dict | None = None) -> tuple[dict, dict]:
    """A glTF perspective camera and its node at the prior's mean pose, or at an inversion's input ``view`` (its
    ``yaw``, ``pitch``, ``radius`` and ``fov``) (GL camera: looks along local -Z, +Y up)."""
    from zoo3d.cameras import Camera, CameraPrior

    p = CameraPrior(**(prior or {}))
    if view is None:
        cam, fov, name = p.frontal().cam2world[0].double().numpy(), p.fov, "prior_mean"
    else:
        pose = Camera.from_angles(view["yaw"], view["pitch"], view["radius"], view["fov"])
        cam, fov, name = pose.cam2world[0].double().numpy(), view["fov"], "input_view"
    rot = cam[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # OpenCV (right, down, forward) -> GL (right, up, backward)
    camera = {"type": "perspective", "name": name,
              "perspective": {"yfov": math.radians(fov), "aspectRatio": 1.0, "znear": 0.05, "zfar": 100.0}}
    node = {"name": f"camera_{name}", "camera": 0, "translation": cam[:3, 3].tolist(), "rotation": _quaternion(rot)}
    return camera, node


def gltf_document(cache) -> tuple[dict, bytes]:
    """The glTF JSON (dict) and its one binary buffer for ``cache``."""
    blob = bytearray()
    views, accessors, images, textures, materials, meshes, nodes = [], [], [], [], [], [], []

    def add_view(data: bytes, target: int | None = None) -> int:
        while len(blob) % 4:
            blob.append(0)
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        blob.extend(data)
        views.append(view)
        return len(views) - 1

    def add_accessor(array: np.ndarray, kind: str, target: int, bounds: bool = False) -> int:
        ctype = _UNSIGNED_INT if array.dtype == np.uint32 else _FLOAT
        acc = {"bufferView": add_view(np.ascontiguousarray(array).tobytes(), target), "componentType": ctype,
               "count": int(array.shape[0]), "type": kind}
        if bounds:
            acc["min"] = array.min(0).astype(float).tolist()
            acc["max"] = array.max(0).astype(float).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    order = list(reversed(range(len(cache.layers))))  # back to front
    for draw, k in enumerate(order):
        lay = cache.layers[k]
        if lay.num_faces == 0:
            continue
        pos = lay.vertices.detach().float().cpu().numpy().astype("<f4")
        uv = lay.uvs.detach().float().cpu().numpy().astype("<f4")
        idx = lay.faces.detach().cpu().numpy().astype("<u4").reshape(-1)
        prim = {"attributes": {"POSITION": add_accessor(pos, "VEC3", _ARRAY_BUFFER, bounds=True),
                               "TEXCOORD_0": add_accessor(uv, "VEC2", _ARRAY_BUFFER)},
                "indices": add_accessor(idx, "SCALAR", _ELEMENT_ARRAY_BUFFER), "material": len(materials), "mode": 4}
        images.append({"name": lay.name, "mimeType": "image/png",
                       "bufferView": add_view(_png(lay.texture, with_alpha=not lay.opaque))})
        textures.append({"sampler": 0, "source": len(images) - 1})
        materials.append({"name": lay.name, "alphaMode": "OPAQUE" if lay.opaque else "BLEND", "doubleSided": False,
                          "pbrMetallicRoughness": {"baseColorTexture": {"index": len(textures) - 1},
                                                   "metallicFactor": 0.0, "roughnessFactor": 1.0},
                          "extensions": {"KHR_materials_unlit": {}}})
        meshes.append({"name": lay.name, "primitives": [prim]})
        nodes.append({"name": lay.name, "mesh": len(meshes) - 1,
                      "extras": {"zoo3d": {"draw_order": len(nodes), "layer": k, "opaque": lay.opaque}}})
    if not meshes:
        raise UserError("The cache holds no triangles (no manifold is hit on its grid); nothing to export.")
    camera, cam_node = _camera_node(cache.meta.get("camera_prior"), cache.meta.get("input_view"))
    cam_node["camera"] = 0
    nodes.append(cam_node)
    meta = {"layers_front_to_back": [lay.name for lay in cache.layers], "extent": cache.extent,
            "backdrop": list(cache.backdrop),
            **{k: v for k, v in cache.meta.items()}}
    doc = {
        "asset": {"version": "2.0", "generator": f"zoo3d {__version__}", "extras": {"zoo3d": meta}},
        "extensionsUsed": ["KHR_materials_unlit"],
        "scene": 0,
        "scenes": [{"name": "manifolds", "nodes": list(range(len(nodes)))}],
        "nodes": nodes, "meshes": meshes, "materials": materials, "textures": textures, "images": images,
        "samplers": [{"magFilter": _LINEAR, "minFilter": _LINEAR, "wrapS": _CLAMP_TO_EDGE, "wrapT": _CLAMP_TO_EDGE}],
        "cameras": [camera], "accessors": accessors, "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
    }
    return doc, bytes(blob)


def _chunk(kind: int, data: bytes, pad: bytes) -> bytes:
    data = data + pad * ((4 - len(data) % 4) % 4)
    return struct.pack("<II", len(data), kind) + data


def glb_bytes(cache) -> bytes:
    """``cache`` as one binary glTF (GLB) file's bytes."""
    doc, blob = gltf_document(cache)
    body = _chunk(_JSON_CHUNK, json.dumps(doc, separators=(",", ":")).encode("utf-8"), b" ")
    body += _chunk(_BIN_CHUNK, blob, b"\0")
    return struct.pack("<III", _GLB_MAGIC, 2, 12 + len(body)) + body


def read_glb_json(data: bytes, path: str | Path = "<bytes>") -> dict:
    """The JSON chunk of GLB bytes (UserError naming ``path`` when they are not GLB 2.0)."""
    if len(data) < 20 or struct.unpack_from("<II", data, 0) != (_GLB_MAGIC, 2):
        raise UserError(f"'{path}' is not a binary glTF 2.0 file (.glb).")
    total = struct.unpack_from("<I", data, 8)[0]
    if total != len(data):
        raise UserError(f"'{path}' is truncated or corrupt: its header says {total:,} bytes, the file has "
                        f"{len(data):,}.")
    length, kind = struct.unpack_from("<II", data, 12)
    if kind != _JSON_CHUNK or 20 + length > len(data):
        raise UserError(f"'{path}' is not a binary glTF 2.0 file (.glb): its first chunk is not JSON.")
    try:
        doc = json.loads(data[20:20 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"'{path}' is not a binary glTF 2.0 file (.glb): its JSON chunk does not parse.") from None
    if not isinstance(doc, dict):
        raise UserError(f"'{path}' is not a binary glTF 2.0 file (.glb): its JSON chunk is not an object.")
    return doc


def write_gltf(cache, path: str | Path) -> Path:
    """Write ``cache`` to ``path``: ``.glb`` (binary, one file) or ``.gltf`` (JSON with the buffer as a data URI)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".glb", ".gltf"):
        raise UserError(f"Cannot tell the glTF flavour of '{path}': name it .glb or .gltf.")
    from zoo3d.fileio import write_bytes_atomic

    if suffix == ".glb":
        data = glb_bytes(cache)
    else:
        doc, blob = gltf_document(cache)
        doc["buffers"][0]["uri"] = "data:application/octet-stream;base64," + base64.b64encode(blob).decode("ascii")
        data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    return write_bytes_atomic(path, data, "glTF file")  # a full disk leaves the old file, not half a new one
