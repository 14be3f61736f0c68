"""The rows a prediction request carries, in the formats MLflow's scoring server takes.

Plain Python: no Django, no Keras. The rows returned are checked as numbers, shapes and
limits by ``runtime.parse_instances``; this module checks only the format's own structure and,
for the two table formats, the columns against the feature names the model was trained on.

- ``{"instances": [row, ...]}`` or ``{"inputs": [row, ...]}``: rows, flat or nested.
- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` (``index`` is ignored).
- ``{"dataframe_records": [{"column": value, ...}, ...]}``.

``params`` (MLflow's inference parameters) is accepted and ignored: these models take none.
"""

from .runtime import InputError, Signature

FORMATS = ("instances", "inputs", "dataframe_split", "dataframe_records")
IGNORED = {"params"}
# Names quoted in an error, at most.
SHOWN = 5


def rows_from_payload(payload: object, signature: Signature) -> list:
    """The request's rows, in the order of the model's features."""
    expected = (
        'send one of {"instances": [...]}, {"inputs": [...]}, {"dataframe_split": '
        '{"columns": [...], "data": [...]}} or {"dataframe_records": [...]}'
    )
    if not isinstance(payload, dict):
        raise InputError(f"{expected}, not a JSON {type(payload).__name__}")
    given = [key for key in FORMATS if key in payload]
    if len(given) != 1:
        raise InputError(f"{expected}; got {_names(given)}" if given else expected)
    unknown = sorted(set(payload) - set(FORMATS) - IGNORED)
    if unknown:
        raise InputError(f"unknown field {_names(unknown)}: {expected}")
    key = given[0]
    if key == "dataframe_split":
        return _split_rows(payload[key], signature)
    if key == "dataframe_records":
        return _record_rows(payload[key], signature)
    return payload[key]


def _split_rows(split: object, signature: Signature) -> list:
    if not isinstance(split, dict) or not {"columns", "data"} <= split.keys():
        raise InputError('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
    columns, data = split["columns"], split["data"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InputError("dataframe_split.columns must be a list of column names")
    if not isinstance(data, list) or not data:
        raise InputError("dataframe_split.data must be a non-empty list of rows")
    order = _column_order(columns, signature, "dataframe_split")
    rows = []
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
            raise InputError(
                f"dataframe_split.data[{index}]: expected {len(columns)} values (one per "
                f"column), got {got}"
            )
        rows.append([row[i] for i in order])
    return rows


def _record_rows(records: object, signature: Signature) -> list:
    if not isinstance(records, list) or not records:
        raise InputError("dataframe_records must be a non-empty list of objects")
    if not all(isinstance(record, dict) for record in records):
        raise InputError("dataframe_records must be a list of objects: {column: value}")
    first = list(records[0])
    order = _column_order(first, signature, "dataframe_records[0]")
    names = [first[i] for i in order]
    rows = []
    for index, record in enumerate(records):
        if list(record) != first and set(record) != set(first):
            missing = [name for name in names if name not in record]
            where = f"dataframe_records[{index}]"
            if missing:
                raise InputError(f"{where}: missing key {_names(missing)}")
            raise InputError(f"{where}: unknown key {_names(sorted(set(record) - set(first)))}")
        rows.append([record[name] for name in names])
    return rows


def _column_order(columns: list[str], signature: Signature, where: str) -> list[int]:
    """Where each of the model's features is among ``columns``: checked against its feature
    names when it has them, else only counted."""
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise InputError(f"{where}: column {_names(twice)} is given more than once")
    names = signature.feature_names
    if names is None:
        if len(columns) != signature.size:
            raise InputError(
                f"{where}: {len(columns)} columns, but the model takes {signature.size} features"
            )
        return list(range(len(columns)))
    missing = [name for name in names if name not in columns]
    unknown = [column for column in columns if column not in names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column {_names(missing)}")
        if unknown:
            parts.append(f"unknown column {_names(unknown)}")
        raise InputError(f"{where}: {'; '.join(parts)} (the model takes {_names(list(names))})")
    position = {column: i for i, column in enumerate(columns)}
    return [position[name] for name in names]


def _names(names: list) -> str:
    shown = ", ".join(repr(name) for name in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
