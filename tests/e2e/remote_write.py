"""A minimal Prometheus remote-write 1.0 client: protobuf encoded by hand, snappy block
format via cramjam. Enough to send exact samples and read back exact answers."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import cramjam
import requests


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = _varint((number << 3) | wire_type)
    if wire_type == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def _labels(labels: dict[str, str]) -> bytes:
    out = b""
    for name in sorted(labels):
        label = _field(1, 2, name.encode()) + _field(2, 2, labels[name].encode())
        out += _field(1, 2, label)
    return out


@dataclass
class Series:
    labels: dict[str, str]
    samples: list[tuple[int, float]] = field(default_factory=list)
    # (labels, value, timestamp_ms)
    exemplars: list[tuple[dict[str, str], float, int]] = field(default_factory=list)

    def encode(self) -> bytes:
        out = _labels(self.labels)
        for timestamp_ms, value in self.samples:
            sample = _field(1, 1, struct.pack("<d", value)) + _field(2, 0, _varint(timestamp_ms))
            out += _field(2, 2, sample)
        for labels, value, timestamp_ms in self.exemplars:
            exemplar = _labels(labels) + _field(2, 1, struct.pack("<d", value)) + _field(3, 0, _varint(timestamp_ms))
            out += _field(3, 2, exemplar)
        return out


def encode_request(series: list[Series]) -> bytes:
    """A snappy-compressed prometheus.WriteRequest."""
    body = b"".join(_field(1, 2, s.encode()) for s in series)
    return bytes(cramjam.snappy.compress_raw(body))


HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "sightline-e2e/1",
}


def send(url: str, series: list[Series], session: requests.Session | None = None, timeout: float = 10) -> requests.Response:
    poster = session or requests
    return poster.post(url + "/api/v1/write", data=encode_request(series), headers=HEADERS, timeout=timeout)


def export(url: str, selector: str, start: str | None = None, end: str | None = None) -> dict[tuple, list[tuple[int, str]]]:
    """Every series matching `selector`, as {sorted label items: [(timestamp_ms, value string)]}."""
    params = [("match[]", selector)]
    if start is not None:
        params.append(("start", start))
    if end is not None:
        params.append(("end", end))
    response = requests.get(url + "/api/v1/export", params=params, timeout=30)
    response.raise_for_status()
    import json

    result = {}
    for line in response.text.splitlines():
        row = json.loads(line)
        key = tuple(sorted(row["metric"].items()))
        result[key] = list(zip(row["timestamps"], row["values"]))
    return result


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def same_value(expected: float, shown: str) -> bool:
    """Whether a value string from the API is exactly `expected` (NaN equals NaN)."""
    parsed = float(shown)
    if expected != expected:
        return parsed != parsed
    return bits(parsed) == bits(expected)
