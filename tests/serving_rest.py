"""TF Serving's REST JSON for `:predict` in row format, for calling a loaded SavedModel signature
the way a REST client reaches it (https://www.tensorflow.org/tfx/serving/api_rest, and
tensorflow_serving/util/json_tensor.cc, which implements it):

- request: {"signature_name": NAME, "instances": [{input: value, ...}, ...]}; a binary string
  value is sent as {"b64": base64} (the client's job: an input named `*_bytes` is binary), and
  the server decodes every {"b64": ...} object given for a tf.string input;
- response: {"predictions": [{output: value, ...}, ...]} (one output: the bare values); a
  tf.string output whose name ends in `_bytes` is written {"b64": base64}, any other string is
  written into the JSON string byte for byte (RapidJSON escapes only quotes, backslashes and
  control characters), so binary bytes make the body invalid UTF-8.
"""
import base64
import json
from typing import Dict, List, Mapping

import tensorflow as tf

BYTES_SUFFIX = "_bytes"


def is_binary(name: str) -> bool:
    return name.endswith(BYTES_SUFFIX)


def encode_request(signature_name: str, instances: List[Mapping[str, bytes]]) -> bytes:
    """A client's request body; inputs named `*_bytes` as {"b64": ...}, others as text."""
    rows = [{name: {"b64": base64.b64encode(value).decode("ascii")} if is_binary(name) else value.decode("utf-8")
             for name, value in instance.items()} for instance in instances]
    return json.dumps({"signature_name": signature_name, "instances": rows}).encode("utf-8")


def decode_request(body: bytes, input_specs: Mapping[str, tf.TensorSpec]) -> Dict[str, tf.Tensor]:
    """The server side: request body -> one batched tensor per signature input."""
    rows = json.loads(body)["instances"]
    columns: Dict[str, list] = {name: [] for name in input_specs}
    for row in rows:
        for name, value in row.items():
            if name not in input_specs:
                raise ValueError(f"JSON object: does not have named input: {name}")
            if isinstance(value, dict):
                value = base64.b64decode(value["b64"])
            elif isinstance(value, str) and input_specs[name].dtype == tf.string:
                value = value.encode("utf-8")
            columns[name].append(value)
    return {name: tf.constant(values, input_specs[name].dtype) for name, values in columns.items()}


def _json_string(raw: bytes) -> bytes:
    """RapidJSON's Writer::String on raw bytes: escapes, but no UTF-8 validation."""
    out = bytearray(b'"')
    for byte in raw:
        if byte in (0x22, 0x5C):
            out += b"\\" + bytes([byte])
        elif byte < 0x20:
            out += b"\\u%04X" % byte
        else:
            out.append(byte)
    return bytes(out + b'"')


def _value(name: str, value) -> bytes:
    if isinstance(value, bytes):
        if is_binary(name):
            return json.dumps({"b64": base64.b64encode(value).decode("ascii")}).encode("ascii")
        return _json_string(value)
    return json.dumps(value.tolist() if hasattr(value, "tolist") else value).encode("ascii")


def encode_response(outputs: Mapping[str, tf.Tensor]) -> bytes:
    """The server's response body for a row-format request (bytes: it need not be UTF-8)."""
    arrays = {name: tensor.numpy() for name, tensor in outputs.items()}
    names = sorted(arrays)
    items = []
    for i in range(len(arrays[names[0]])):
        if len(names) == 1:
            items.append(_value(names[0], arrays[names[0]][i]))
        else:
            fields = [json.dumps(name).encode("ascii") + b": " + _value(name, arrays[name][i]) for name in names]
            items.append(b"{" + b", ".join(fields) + b"}")
    return b'{"predictions": [' + b", ".join(items) + b"]}"


def load(saved_model: str):
    """The SavedModel as TF Serving loads it: the meta graph tagged `serve`."""
    return tf.saved_model.load(saved_model, tags=["serve"])


def predict(loaded, signature_name: str, instances: List[Mapping[str, bytes]]) -> bytes:
    """POST /v1/models/M:predict, in process: encode the request, decode it as the server does,
    call the signature of the loaded SavedModel (`load`), encode the response."""
    signature = loaded.signatures[signature_name]
    body = encode_request(signature_name, instances)
    inputs = decode_request(body, signature.structured_input_signature[1])
    return encode_response(signature(**inputs))


def signature_outputs(saved_model: str, signature_name: str) -> Dict[str, str]:
    """output name -> graph tensor name, from the `serve` meta graph's SignatureDef."""
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(f"{saved_model}/saved_model.pb", "rb") as f:
        proto.ParseFromString(f.read())
    meta = next(m for m in proto.meta_graphs if "serve" in m.meta_info_def.tags)
    return {name: info.name for name, info in meta.signature_def[signature_name].outputs.items()}
