"""Reading a request's rows in MLflow's scoring formats (plain Python)."""

import pytest

from inference.payloads import rows_from_payload
from inference.runtime import InputError, Signature

NAMED = Signature(input_shape=(3,), classes=(0, 1), feature_names=("a", "b", "c"))
UNNAMED = Signature(input_shape=(3,), classes=(0, 1))


def test_instances_and_inputs_are_the_rows_as_given():
    rows = [[1, 2, 3], [4, 5, 6]]

    assert rows_from_payload({"instances": rows}, NAMED) == rows
    assert rows_from_payload({"inputs": rows, "params": {"x": 1}}, NAMED) == rows


def test_dataframe_split_columns_are_put_in_the_models_order():
    payload = {"dataframe_split": {"columns": ["c", "a", "b"], "data": [[3, 1, 2], [6, 4, 5]]}}

    assert rows_from_payload(payload, NAMED) == [[1, 2, 3], [4, 5, 6]]


def test_dataframe_records_keys_are_put_in_the_models_order():
    payload = {"dataframe_records": [{"b": 2, "c": 3, "a": 1}, {"c": 6, "a": 4, "b": 5}]}

    assert rows_from_payload(payload, NAMED) == [[1, 2, 3], [4, 5, 6]]


def test_without_feature_names_only_the_column_count_is_checked():
    split = {"dataframe_split": {"columns": ["x", "y", "z"], "data": [[1, 2, 3]]}}
    records = {"dataframe_records": [{"x": 1, "y": 2, "z": 3}, {"z": 6, "y": 5, "x": 4}]}

    assert rows_from_payload(split, UNNAMED) == [[1, 2, 3]]
    assert rows_from_payload(records, UNNAMED) == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([[1, 2, 3]], "not a JSON list"),
        ({}, "send one of"),
        ({"rows": [[1, 2, 3]]}, "send one of"),
        ({"instances": [[1, 2, 3]], "dataframe_records": []}, "got 'instances', 'dataframe_"),
        ({"instances": [[1, 2, 3]], "extra": 1}, "unknown field 'extra'"),
        ({"dataframe_split": [[1, 2, 3]]}, 'dataframe_split must be {"columns"'),
        ({"dataframe_split": {"columns": ["a", "b", "c"]}}, 'must be {"columns"'),
        ({"dataframe_split": {"columns": "abc", "data": [[1]]}}, "columns must be a list"),
        ({"dataframe_split": {"columns": ["a", 2, "c"], "data": [[1]]}}, "list of column names"),
        ({"dataframe_split": {"columns": ["a", "b", "c"], "data": []}}, "non-empty list of rows"),
        (
            {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}},
            "missing column 'c' (the model takes 'a', 'b', 'c')",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4]]}},
            "unknown column 'd'",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b", "C"], "data": [[1, 2, 3]]}},
            "missing column 'c'; unknown column 'C'",
        ),
        (
            {"dataframe_split": {"columns": ["a", "a", "b"], "data": [[1, 2, 3]]}},
            "column 'a' is given more than once",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, 3], [1, 2]]}},
            "dataframe_split.data[1]: expected 3 values (one per column), got 2 values",
        ),
        (
            {"dataframe_split": {"columns": ["a", "b", "c"], "data": [{"a": 1}]}},
            "data[0]: expected 3 values (one per column), got dict",
        ),
        ({"dataframe_records": []}, "dataframe_records must be a non-empty list"),
        ({"dataframe_records": [[1, 2, 3]]}, "a list of objects"),
        ({"dataframe_records": [{"a": 1, "b": 2}]}, "missing column 'c'"),
        (
            {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}]},
            "dataframe_records[1]: missing key 'c'",
        ),
        (
            {"dataframe_records": [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3, "d": 4}]},
            "dataframe_records[1]: unknown key 'd'",
        ),
    ],
)
def test_a_malformed_table_is_refused_naming_what_is_wrong(payload, message):
    with pytest.raises(InputError) as refused:
        rows_from_payload(payload, NAMED)

    assert message in str(refused.value)


def test_a_table_of_the_wrong_width_is_refused_without_feature_names():
    payload = {"dataframe_split": {"columns": ["x", "y"], "data": [[1, 2]]}}

    with pytest.raises(InputError, match="2 columns, but the model takes 3 features"):
        rows_from_payload(payload, UNNAMED)


def test_long_lists_of_names_are_cut_short_in_the_message():
    wide = Signature(
        input_shape=(20,), classes=(0,), feature_names=tuple(f"f{i}" for i in range(20))
    )
    payload = {"dataframe_split": {"columns": ["f0"], "data": [[1]]}}

    with pytest.raises(InputError, match="and 14 more"):
        rows_from_payload(payload, wide)
