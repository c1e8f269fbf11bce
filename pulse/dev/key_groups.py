"""Which keyed subtask Flink gives a tenant: Flink's KeyGroupRangeAssignment for the scoring job's key.

The job keys by tenant with `key_by(..., key_type=Types.STRING())`; PyFlink's Java `KeyByKeySelector` turns that into
a one-field `org.apache.flink.types.Row` holding the tenant's name as a Java String. Flink hashes the key's
`hashCode()` with its murmur mix (`MathUtils.murmurHash`) into one of `max_parallelism` key groups, and gives each
subtask a contiguous range of them. Checked against Flink's own class (tests/dev/test_key_groups.py compiles a
small Java program against flink-dist's jar and compares every subtask for a thousand names).

>>> java_string_hash("shop0001"), row_hash("shop0001")
(-346424329, -346424267)
>>> default_max_parallelism(2), default_max_parallelism(200)
(128, 512)
>>> [subtask("acme", 2), subtask("globex", 2), subtask("initech", 2)]
[1, 1, 1]
"""

from __future__ import annotations

MASK = 0xFFFFFFFF
INSERT = 0  # RowKind.INSERT.toByteValue(): the seed of Row.hashCode


def _int32(value: int) -> int:
    """`value` wrapped to a Java int (two's complement, 32 bits)."""
    value &= MASK
    return value - (1 << 32) if value >= 1 << 31 else value


def _rotl(value: int, bits: int) -> int:
    value &= MASK
    return ((value << bits) | (value >> (32 - bits))) & MASK


def java_string_hash(text: str) -> int:
    """Java's `String.hashCode()`: s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, as a Java int."""
    code = 0
    units = text.encode("utf-16-be")
    for index in range(0, len(units), 2):
        code = (31 * code + int.from_bytes(units[index : index + 2], "big")) & MASK
    return _int32(code)


def row_hash(text: str) -> int:
    """`Row.hashCode()` of a one-field Row holding `text`. RowUtils.deepHashCodeRow: 31 * kind + the fields' hash,
    which starts at 1 and adds each field's as `Arrays.deepHashCode(new Object[]{field})` (31 + its hashCode)."""
    field = 31 + java_string_hash(text)
    return _int32(31 * INSERT + 31 * 1 + field)


def murmur_hash(code: int) -> int:
    """Flink's `MathUtils.murmurHash(int)`: one murmur3 round and its finaliser, made non-negative."""
    code = _rotl(code * 0xCC9E2D51, 15) * 0x1B873593
    code = (_rotl(code, 13) * 5 + 0xE6546B64) & MASK
    code ^= 4
    code ^= code >> 16
    code = (code * 0x85EBCA6B) & MASK
    code ^= code >> 13
    code = (code * 0xC2B2AE35) & MASK
    code ^= code >> 16
    signed = _int32(code)
    return abs(signed) if signed != -(1 << 31) else 0


def default_max_parallelism(parallelism: int) -> int:
    """Flink's default number of key groups for an operator of `parallelism` (none set in the job or its config)."""
    rounded = 1 << max(parallelism + parallelism // 2 - 1, 0).bit_length()
    return min(max(rounded, 128), 32768)


def key_group(tenant: str, max_parallelism: int) -> int:
    """The key group of `tenant` (KeyGroupRangeAssignment.assignToKeyGroup)."""
    return murmur_hash(row_hash(tenant)) % max_parallelism


def subtask(tenant: str, parallelism: int, max_parallelism: int | None = None) -> int:
    """The keyed subtask that runs `tenant` (KeyGroupRangeAssignment.assignKeyToParallelOperator)."""
    groups = max_parallelism or default_max_parallelism(parallelism)
    return key_group(tenant, groups) * parallelism // groups
