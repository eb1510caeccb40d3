#!/usr/bin/env python3
"""Describes a Neuron compiled folder as a herd artifact, in the chart's compile Job (the Neuron vLLM
image has python3, not herd): herd-compile.env, SHA256SUMS and herd-manifest.json (kind "neuron"),
exactly as `herd artifacts push` writes them (src/compile/neuron-artifact.ts; a test holds the two
writers to one reader).

    python3 neuron-manifest.py DIR

Env: HERD_MODEL (the model id compiled), HERD_EXPECT_TP_DEGREE / HERD_EXPECT_SEQ_LEN (what the chart
asked vLLM for: a neuron_config.json that says otherwise is refused, since no pod could load it).
"""
import concurrent.futures
import datetime
import hashlib
import importlib.metadata
import json
import os
import re
import sys

MANIFEST = "herd-manifest.json"
SUMS = "SHA256SUMS"
SETTINGS = "herd-compile.env"
RESERVED_AT_ROOT = {MANIFEST, SUMS, SETTINGS, ".herd-staged", ".staging"}
HERD_TEMP = re.compile(r"^\.herd-manifest\.json\..*\.tmp$|^\.(SHA256SUMS|herd-compile\.env)\..*\.tmp$|\.part(\.json)?$")
SDK_PACKAGES = [
    "neuronx-cc",
    "neuronx-distributed",
    "neuronx-distributed-inference",
    "torch-neuronx",
    "libneuronxla",
    "vllm",
    "vllm-neuron",
]


def fail(message):
    print(f"neuron-manifest: error: {message}", file=sys.stderr)
    sys.exit(1)


def scan(root):
    files = []

    def walk(rel):
        base = os.path.join(root, rel) if rel else root
        for name in os.listdir(base):
            path = f"{rel}/{name}" if rel else name
            if (not rel and name in RESERVED_AT_ROOT) or HERD_TEMP.search(name):
                continue
            full = os.path.join(root, path)
            if os.path.isdir(full):
                if os.path.islink(full):
                    fail(f"{full} is a link to a folder; herd does not follow them")
                walk(path)
            elif os.path.isfile(full):
                if re.search(r"[\\\n\r]", path):
                    fail(f"{full}: a backslash or line break in a file name cannot be listed in {SUMS}")
                files.append({"path": path, "bytes": os.path.getsize(full)})
            else:
                fail(f"{full} is neither a file nor a folder")

    walk("")
    return sorted(files, key=lambda f: f["path"])


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pos_int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def int_list(v):
    return v if isinstance(v, list) and v and all(pos_int(x) is not None for x in v) else None


def settings_from(config, sdk):
    nc = config.get("neuron_config") or (config.get("text_config") or {}).get("neuron_config") or {}
    dtype = nc.get("torch_dtype")
    return {
        "tpDegree": pos_int(nc.get("tp_degree")),
        "seqLen": pos_int(nc.get("seq_len")),
        "maxContextLength": pos_int(nc.get("max_context_length")),
        "batchSize": pos_int(nc.get("batch_size")),
        "contextEncodingBuckets": int_list(nc.get("context_encoding_buckets")),
        "tokenGenerationBuckets": int_list(nc.get("token_generation_buckets")),
        "torchDtype": dtype if isinstance(dtype, str) else None,
        "logicalNcConfig": pos_int(nc.get("logical_nc_config")) or pos_int(nc.get("logical_neuron_cores")),
        "sdk": sdk,
    }


def sdk_versions():
    out = {}
    for name in SDK_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def render_settings(s, model):
    lines = ["# Compile settings of this Neuron artifact, written by herd (herd-manifest.json has the rest)."]
    for key, value in [
        ("TP_DEGREE", s["tpDegree"]),
        ("SEQ_LEN", s["seqLen"]),
        ("MAX_CONTEXT_LENGTH", s["maxContextLength"]),
        ("BATCH_SIZE", s["batchSize"]),
        ("LOGICAL_NC_CONFIG", s["logicalNcConfig"]),
        ("TORCH_DTYPE", s["torchDtype"]),
        ("MODEL", model),
    ]:
        if value is not None and re.fullmatch(r"[A-Za-z0-9._:/+-]+", str(value)):
            lines.append(f"HERD_NEURON_{key}={value}")
    return "\n".join(lines) + "\n"


def write(root, name, text):
    tmp = os.path.join(root, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, os.path.join(root, name))
    data = text.encode("utf-8")
    return {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def check_expected(s):
    problems = []
    for env, key, what in [("HERD_EXPECT_TP_DEGREE", "tpDegree", "TP degree"), ("HERD_EXPECT_SEQ_LEN", "seqLen", "sequence length")]:
        want = os.environ.get(env, "").strip()
        if want and s[key] is not None and str(s[key]) != want:
            problems.append(f"neuron_config.json says {what} {s[key]}, the chart asked for {want} ({env})")
    if problems:
        fail("; ".join(problems) + ": no pod with these values could load this artifact")


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        fail("usage: neuron-manifest.py DIR (a Neuron compiled folder)")
    root = argv[1]
    files = scan(root)
    if not any(f["path"] == "neuron_config.json" for f in files):
        fail(f"{root} has no neuron_config.json: the compile did not produce a Neuron compiled folder")
    try:
        with open(os.path.join(root, "neuron_config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except ValueError as e:
        fail(f"{root}/neuron_config.json is not valid JSON ({e})")
    settings = settings_from(config, sdk_versions())
    check_expected(settings)
    name_or_path = config.get("_name_or_path")
    model = os.environ.get("HERD_MODEL", "").strip() or (name_or_path if isinstance(name_or_path, str) and name_or_path else None)

    workers = min(32, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = list(pool.map(lambda f: sha256(os.path.join(root, f["path"])), files))
    data = [{"path": f["path"], "bytes": f["bytes"], "sha256": h} for f, h in zip(files, hashes)]
    env = write(root, SETTINGS, render_settings(settings, model))
    listed = sorted(data + [env], key=lambda f: f["path"])
    sums = write(root, SUMS, "".join(f"{f['sha256']}  {f['path']}\n" for f in listed))
    manifest = {
        "format": "herd-artifact",
        "formatVersion": 1,
        "kind": "neuron",
        "createdBy": "herd chart compile job (neuron-manifest.py)",
        "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "model": model,
        "neuron": settings,
        "files": data + [env, sums],
    }
    write(root, MANIFEST, json.dumps(manifest, indent=2) + "\n")
    total = sum(f["bytes"] for f in data)
    print(f"neuron-manifest: described {root}: {len(data)} files, {total} bytes; TP {settings['tpDegree']}, seq len {settings['seqLen']}")


if __name__ == "__main__":
    main(sys.argv)
