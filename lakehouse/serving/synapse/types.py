"""Spark SQL types to Synapse serverless T-SQL types, and safe T-SQL identifiers.

| Spark (contract data_type)        | T-SQL in the OPENROWSET WITH clause                      |
|-----------------------------------|----------------------------------------------------------|
| string, varchar(n), char(n)       | varchar(<string length>) COLLATE Latin1_General_100_BIN2_UTF8 |
| timestamp, timestamp_ntz          | datetime2(7)                                             |
| double / float (real)             | float / real                                             |
| bigint (long) / int (integer)     | bigint / int                                             |
| smallint (short), tinyint (byte)  | smallint (Spark's tinyint is signed, T-SQL's is not)     |
| boolean                           | bit                                                      |
| decimal(p,s) (decimal = (10,0))   | decimal(p,s)                                             |
| date                              | date                                                     |
| binary                            | varbinary(max)                                           |
| array<..>, map<..>, struct<..>    | varchar(max) COLLATE ... (serverless returns them as JSON text) |

Any other type is an error naming the model and column. The UTF-8 BIN2 collation
is what serverless needs to read Parquet/Delta strings without conversion
warnings and to push filters down.
"""

from __future__ import annotations

import re

UTF8_COLLATION = "Latin1_General_100_BIN2_UTF8"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_IDENTIFIER_LENGTH = 128

_SIMPLE = {
    "timestamp": "datetime2(7)",
    "timestamp_ntz": "datetime2(7)",
    "timestamp_ltz": "datetime2(7)",
    "double": "float",
    "float": "real",
    "real": "real",
    "bigint": "bigint",
    "long": "bigint",
    "int": "int",
    "integer": "int",
    "smallint": "smallint",
    "short": "smallint",
    "tinyint": "smallint",
    "byte": "smallint",
    "boolean": "bit",
    "date": "date",
    "binary": "varbinary(max)",
}
_STRING = re.compile(r"(string|varchar\(\s*\d+\s*\)|char\(\s*\d+\s*\))")
_DECIMAL = re.compile(r"(?:decimal|numeric|dec)(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?")
_NESTED = re.compile(r"(array|map|struct)\s*<.*>", re.DOTALL)


class UnsupportedType(ValueError):
    """A contract data_type with no Synapse serverless equivalent."""


class UnsafeIdentifier(ValueError):
    """A name that is not a plain identifier, so it is not put into SQL."""


def quote_identifier(name: str, what: str = "identifier") -> str:
    """`[name]` for a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 128 chars); rejects anything else."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name) or len(name) > MAX_IDENTIFIER_LENGTH:
        raise UnsafeIdentifier(
            f"{what} {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, "
            f"at most {MAX_IDENTIFIER_LENGTH} characters); rename it to serve it through Synapse"
        )
    return f"[{name}]"


def string_type(length: int | str) -> str:
    if length == "max":
        return f"varchar(max) COLLATE {UTF8_COLLATION}"
    if not isinstance(length, int) or not 1 <= length <= 8000:
        raise ValueError(f"string length must be 1..8000 or 'max', got {length!r}")
    return f"varchar({length}) COLLATE {UTF8_COLLATION}"


def tsql_type(spark_type: str, *, string_length: int | str = 8000, where: str = "") -> str:
    """The T-SQL type for a Spark SQL type name as written in a dbt contract."""
    normalized = " ".join(spark_type.strip().lower().split())
    if normalized in _SIMPLE:
        return _SIMPLE[normalized]
    if _STRING.fullmatch(normalized):
        return string_type(string_length)
    decimal = _DECIMAL.fullmatch(normalized)
    if decimal:
        precision = int(decimal.group(1) or 10)
        scale = int(decimal.group(2) or 0)
        if not (1 <= precision <= 38 and 0 <= scale <= precision):
            raise UnsupportedType(f"{where}decimal({precision},{scale}) is outside T-SQL's decimal(1..38, 0..p)")
        return f"decimal({precision}, {scale})"
    if _NESTED.fullmatch(normalized):
        return string_type("max")
    raise UnsupportedType(
        f"{where}Spark type {spark_type!r} has no Synapse serverless mapping; "
        "use one of string, timestamp, double, float, bigint, int, smallint, boolean, "
        "decimal(p,s), date, binary, array/map/struct"
    )
