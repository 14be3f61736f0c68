import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from datasets import formats
from datasets.formats import (
    DatasetFileError,
    Limits,
    NpzWriter,
    describe,
    open_dataset,
    read_arrays,
    render_thumbnails,
    validate,
)
from datasets.formats.writer import npy_header

ROOT = Path(__file__).resolve().parents[2]


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def zip_of(path: Path, compression=zipfile.ZIP_STORED, **members: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(f"{name}.npy", content)
    return path


def npz(tmp_path: Path, **arrays) -> Path:
    path = tmp_path / "data.npz"
    formats.write_npz(path, **arrays)
    return path


def blobs(samples: int = 30, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype(np.float32)
    return x, np.arange(samples) % 3


def refusal(path: Path, fmt: str = "npz", **kwargs) -> str:
    with pytest.raises(DatasetFileError) as caught, open_dataset(path, fmt, **kwargs) as reader:
        describe(reader)
    return str(caught.value)


def test_it_knows_shapes_and_types_after_opening(tmp_path):
    x, y = blobs()
    with open_dataset(npz(tmp_path, x=x.reshape(30, 2, 2), y=y), "npz") as reader:
        assert reader.samples == 30 and reader.feature_shape == (2, 2)
        assert reader.dtype == np.float32 and reader.label_dtype == np.int64
        assert reader.feature_names is None and reader.split() is None


def test_it_refuses_a_file_that_is_not_a_zip(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"just some text")
    assert refusal(path) == "not a valid .npz file: it is not a zip archive of arrays"


def test_it_refuses_an_empty_file(tmp_path):
    path = tmp_path / "data.npz"
    path.touch()
    assert refusal(path) == "the file is empty"


def test_it_says_what_the_file_holds_when_labels_are_missing(tmp_path):
    path = zip_of(tmp_path / "data.npz", x=npy(np.zeros((3, 2))), extra=npy(np.zeros(3)))
    assert "needs arrays named 'x' (features) and 'y' (labels)" in refusal(path)
    assert "this file holds extra.npy, x.npy" in refusal(path)


def test_it_refuses_pickled_objects_without_loading_them(tmp_path):
    objects = np.array([{"a": 1}, None, 3], dtype=object)
    path = zip_of(tmp_path / "data.npz", x=npy(np.zeros((3, 2))), y=npy(objects, True))
    assert "y.npy holds pickled Python objects, which are never loaded" in refusal(path)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.array([["a", "b"]] * 3), np.arange(3), "features (x) must be numbers, not <U1"),
        (np.zeros((3, 2)), np.zeros((3, 2)), "labels must be one value per sample"),
        (np.zeros((3, 2)), np.ones(3, complex), "labels must be integers or strings"),
        (np.zeros((3, 2)), np.array([0.5, 1, 2]), "not numbers like 0.5"),
        (np.zeros(3), np.arange(3), "at least 2 dimensions); x has shape [3]"),
        (np.zeros((10, 2)), np.arange(9), "10 feature rows but 9 labels"),
        (np.zeros((0, 2)), np.arange(0), "the dataset has no samples"),
        (np.zeros((3, 0)), np.arange(3), "the samples have no features (shape [0])"),
    ],
)
def test_it_refuses_arrays_that_are_not_a_dataset(tmp_path, x, y, message):
    assert message in refusal(npz(tmp_path, x=x, y=y))


def test_it_refuses_features_saved_in_fortran_order(tmp_path):
    x = np.asfortranarray(np.zeros((4, 3)))
    path = zip_of(tmp_path / "data.npz", x=npy(x), y=npy(np.arange(4)))
    assert "Fortran (column-major) order" in refusal(path)


def test_it_turns_integral_float_labels_into_ints(tmp_path):
    x, _ = blobs(3)
    with open_dataset(npz(tmp_path, x=x, y=np.array([0.0, 1.0, 2.0])), "npz") as reader:
        assert reader.label_dtype == np.int64
        assert reader.labels().tolist() == [0, 1, 2]


def test_it_refuses_a_header_declaring_a_gigantic_shape(tmp_path):
    x_header = npy_header((10**12, 10**6), np.dtype(np.float64))
    y_header = npy_header((10**12,), np.dtype(np.int64))
    path = zip_of(tmp_path / "data.npz", x=x_header + bytes(64), y=y_header + bytes(64))
    # Checked on the declared shape, before any allocation or any data is read.
    assert "the arrays would take" in refusal(path) and "EB once unpacked" in refusal(path)


def test_it_refuses_arrays_over_the_size_limit_in_readable_units(tmp_path):
    x, y = blobs(1000, 64)
    message = refusal(npz(tmp_path, x=x, y=y), limits=Limits(max_uncompressed_bytes=100_000))
    assert message == ("the arrays would take 250.0 KB once unpacked, over the limit of 97.7 KB")


def test_it_refuses_too_many_features_per_sample(tmp_path):
    x, y = blobs(3, 200)
    message = refusal(npz(tmp_path, x=x, y=y), limits=Limits(max_features=100))
    assert message == "each sample has 200 values, over the limit of 100"


def test_it_refuses_a_zip_bomb(tmp_path):
    # A few KB of deflated zeros whose directory and header both claim 40 GB.
    rows = 10 * 1024**3
    header = npy_header((rows, 1), np.dtype(np.float32))
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header + bytes(64 * 1024))
        archive.writestr("y.npy", npy(np.arange(3)))
        archive.getinfo("x.npy").file_size = len(header) + rows * 4
    message = refusal(path)
    assert message.startswith("x.npy would unpack from ")
    assert "to 40.0 GB: it looks like a zip bomb and is refused" in message


def test_it_refuses_an_archive_listing_a_great_many_members(tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.formats.npz.MAX_DIRECTORY_BYTES", 2000)
    members = {f"m{i}": b"" for i in range(60)}
    path = zip_of(tmp_path / "data.npz", x=npy(np.zeros((3, 2))), y=npy(np.arange(3)), **members)
    assert refusal(path) == (
        "not a valid .npz file: it lists 62 members; a dataset holds x, y and perhaps split"
    )


def test_it_refuses_a_file_that_is_not_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1 but not really")
    assert refusal(path, "parquet").startswith("not a valid .parquet file: ")


def test_it_refuses_a_member_whose_size_disagrees_with_its_header(tmp_path):
    header = npy_header((10, 4), np.dtype(np.float32))
    path = zip_of(tmp_path / "data.npz", x=header + bytes(5 * 16), y=npy(np.arange(10)))
    assert "x.npy should hold" in refusal(path) and "corrupt or truncated" in refusal(path)


def test_it_reads_no_further_than_a_deflated_member_really_holds(tmp_path):
    # The directory agrees with the header, but the data stops half-way.
    x = np.ones((100, 4), np.float32)
    header, path = npy_header(x.shape, x.dtype), tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", header + x[:50].tobytes())
        archive.writestr("y.npy", npy(np.arange(100)))
        archive.getinfo("x.npy").file_size = len(header) + x.nbytes
    assert refusal(path) == "not a valid .npz file: the archive is truncated or corrupt"


def test_it_reports_a_truncated_npz_readably(tmp_path):
    x, y = blobs(200, 16)
    content = npz(tmp_path, x=x, y=y).read_bytes()
    (tmp_path / "data.npz").write_bytes(content[: len(content) // 2])
    message = refusal(tmp_path / "data.npz")
    assert message == "not a valid .npz file: the archive is truncated or corrupt"


def test_it_reports_corrupt_compressed_data_readably(tmp_path):
    x, y = blobs(200, 16)
    path = zip_of(tmp_path / "data.npz", zipfile.ZIP_DEFLATED, x=npy(x), y=npy(y))
    content = bytearray(path.read_bytes())
    content[2000:2100] = bytes(100)
    path.write_bytes(bytes(content))
    assert refusal(path) == "not a valid .npz file: the archive is truncated or corrupt"


def test_it_refuses_a_member_that_is_not_an_array(tmp_path):
    path = zip_of(tmp_path / "data.npz", x=b"hello, world", y=npy(np.arange(3)))
    assert refusal(path) == "not a valid .npz file: x.npy is not a saved NumPy array"


def test_it_counts_nan_and_infinite_features(tmp_path):
    x, y = blobs(40)
    x[17, 1], x[20, 0], x[33, 3] = np.nan, np.inf, -np.inf
    reader = open_dataset(npz(tmp_path, x=x, y=y), "npz")
    with reader, pytest.raises(DatasetFileError) as caught:
        validate(reader)
    assert str(caught.value) == "features hold 3 values that are NaN or infinite (first at row 17)"


def test_it_refuses_split_codes_other_than_train_validation_test(tmp_path):
    x, y = blobs(3)
    message = refusal(npz(tmp_path, x=x, y=y, split=np.array([0, 1, 3], np.int8)))
    assert message == "split holds values other than 0 (train), 1 (validation) and 2 (test)"


def test_it_describes_a_dataset_in_chunks_as_numpy_would_in_one_go(tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.formats.base.CHUNK_BYTES", 7 * 4 * 8)  # 7 rows a chunk
    x, y = blobs(100)
    x = x * 1000 + 1e6  # large values, small spread: sums of squares would lose it
    split = (np.arange(100) % 5 == 0).astype(np.int8)
    with open_dataset(npz(tmp_path, x=x, y=y, split=split), "npz") as reader:
        found = describe(reader, preview_rows=3)
    xf = x.astype(np.float64)
    assert found.stats["overall"]["std"] == pytest.approx(xf.std(), rel=1e-9)
    assert found.stats["std"] == found.stats["overall"]["std"]
    assert [f["mean"] for f in found.stats["features"]] == pytest.approx(xf.mean(axis=0))
    assert [f["std"] for f in found.stats["features"]] == pytest.approx(xf.std(axis=0))
    assert found.schema["split_sizes"] == {"train": 80, "validation": 20, "test": 0}
    assert found.schema["class_counts"] == {"0": 34, "1": 33, "2": 33}
    assert found.stats["class_balance"] == {"0": 0.34, "1": 0.33, "2": 0.33}
    assert found.preview["rows"][0] == [float(f"{v:.6g}") for v in x[0]]
    assert found.preview["labels"] == [0, 1, 2]
    json.dumps([found.schema, found.stats, found.preview])  # plain Python types only


def test_it_summarises_wide_data(tmp_path):
    x = np.random.default_rng(0).normal(size=(20, 300))
    x[:, 5] = 1.0
    with open_dataset(npz(tmp_path, x=x, y=np.arange(20) % 2), "npz") as reader:
        found = describe(reader)
    assert len(found.stats["features"]) == 256
    assert found.stats["features_shown"] == 256 and found.stats["features_total"] == 300
    summary = found.stats["summary"]
    assert summary["constant_features"] == 1
    assert set(summary["mean"]) == {"min", "median", "max"}
    assert found.preview["columns"] == [f"f{j}" for j in range(20)]
    assert found.preview["omitted_columns"] == 280 and len(found.preview["rows"][0]) == 20


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def test_it_reads_a_csv_with_a_named_label_column(tmp_path):
    path = csv_file(tmp_path, "a,target,b\n1,cat,2.5\n3,dog,4\n5,cat,6\n")
    loaded = read_arrays(path, "csv", label_column="target")
    assert loaded.x.tolist() == [[1, 2.5], [3, 4], [5, 6]]
    assert loaded.y.tolist() == ["cat", "dog", "cat"] and loaded.split is None
    with open_dataset(path, "csv", label_column="target") as reader:
        found = describe(reader)
    assert found.schema["feature_names"] == ["a", "b"] and found.schema["classes"] == ["cat", "dog"]
    assert [f["name"] for f in found.stats["features"]] == ["a", "b"]
    assert found.preview["columns"] == ["a", "b"]


def test_it_reads_integral_csv_labels_as_ints(tmp_path):
    path = csv_file(tmp_path, "a,label\n1,1.0\n2,2\n3,0\n")
    assert read_arrays(path, "csv").y.tolist() == [1, 2, 0]


def test_it_names_the_column_and_line_of_a_text_cell(tmp_path):
    path = csv_file(tmp_path, "a,b,label\n1,2,0\n3,abc,1\n")
    assert refusal(path, "csv") == "feature column 'b' holds text, not numbers: 'abc' on line 3"


def test_it_shows_the_line_of_a_ragged_row(tmp_path):
    path = csv_file(tmp_path, "a,b,label\n1,2,0\n3,4,1\n5,6\n")
    assert refusal(path, "csv") == "line 4 has 2 values but the header names 3 columns: '5,6'"


def test_it_refuses_an_empty_csv(tmp_path):
    assert refusal(csv_file(tmp_path, ""), "csv") == "the file is empty"
    assert refusal(csv_file(tmp_path, "a,label\n"), "csv") == "the dataset has no samples"


def test_it_lists_the_columns_when_the_label_column_is_missing(tmp_path):
    path = csv_file(tmp_path, "a,b,target\n1,2,0\n")
    assert refusal(path, "csv") == (
        "the file has no label column 'label' (columns: a, b, target); name the label column"
    )


def test_it_refuses_rows_without_a_label(tmp_path):
    path = csv_file(tmp_path, "a,label\n1,0\n2,\n3,1\n")
    assert refusal(path, "csv") == "1 rows have no value in the label column 'label'"


def test_it_counts_empty_csv_cells_as_nan(tmp_path):
    path = csv_file(tmp_path, "a,b,label\n1,,0\n2,3,1\n")
    assert (
        refusal(path, "csv") == "features hold 1 values that are NaN or infinite (first at row 0)"
    )


def parquet_file(tmp_path: Path, **columns) -> Path:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table(columns), path, row_group_size=7)
    return path


def test_it_reads_parquet_in_batches(tmp_path):
    a, b = np.arange(20, dtype=np.int32), np.linspace(0, 1, 20)
    path = parquet_file(tmp_path, a=a, label=[str(i % 2) + "x" for i in range(20)], b=b)
    with open_dataset(path, "parquet") as reader:
        assert reader.samples == 20 and reader.feature_names == ["a", "b"]
        assert reader.dtype == np.float64 and reader.labels()[:2].tolist() == ["0x", "1x"]
        chunks = list(reader.batches(rows=6))
        found = describe(reader)
    assert [len(x) for x, _ in chunks] == [6, 6, 6, 2]
    assert np.concatenate([x for x, _ in chunks]).tolist() == np.column_stack([a, b]).tolist()
    assert found.schema["classes"] == ["0x", "1x"] and found.schema["samples"] == 20


def test_it_refuses_a_parquet_text_column(tmp_path):
    path = parquet_file(tmp_path, a=["x", "y"], label=[0, 1])
    assert refusal(path, "parquet") == "feature column 'a' holds string, not numbers"


def test_it_refuses_empty_cells_in_an_integer_parquet_column(tmp_path):
    path = parquet_file(tmp_path, a=pa.array([1, None, 3]), label=[0, 1, 0])
    assert refusal(path, "parquet") == "feature column 'a' has 1 empty cells (first at row 1)"


def png_size(reader, **kwargs) -> tuple[tuple[int, int], str]:
    image = Image.open(io.BytesIO(render_thumbnails(reader, **kwargs)))
    return image.size, image.mode


@pytest.mark.parametrize(
    ("shape", "size", "mode"),
    [
        ((64,), (8 * 32 + 7 * 2, 4 * 32 + 3 * 2), "L"),  # 8x8 upscaled 4 times
        ((784,), (8 * 56 + 7 * 2, 4 * 56 + 3 * 2), "L"),  # 28x28 upscaled twice
        ((16, 16, 3), (8 * 32 + 7 * 2, 4 * 32 + 3 * 2), "RGB"),
    ],
)
def test_it_draws_image_shaped_features_as_a_grid(tmp_path, shape, size, mode):
    x = np.random.default_rng(0).random((50, *shape), dtype=np.float32)
    with open_dataset(npz(tmp_path, x=x, y=np.arange(50) % 10), "npz") as reader:
        assert png_size(reader) == (size, mode)


def test_it_draws_a_few_of_each_class(tmp_path):
    x = np.random.default_rng(0).random((40, 8, 8), dtype=np.float32)
    with open_dataset(npz(tmp_path, x=x, y=np.arange(40) % 4), "npz") as reader:
        assert png_size(reader, count=5) == ((5 * 32 + 4 * 2, 32), "L")


def test_it_draws_nothing_for_features_that_are_not_images(tmp_path):
    x, y = blobs(30, 10)
    with open_dataset(npz(tmp_path, x=x, y=y), "npz") as reader:
        assert render_thumbnails(reader) is None


def test_the_writer_gives_the_same_bytes_for_the_same_arrays(tmp_path):
    x, y = blobs(100)

    def write(path: Path) -> bytes:
        with NpzWriter(path) as out:
            with out.stream("x", shape=x.shape, dtype=np.float32) as member:
                for start in range(0, 100, 30):
                    member.append(x[start : start + 30])
            out.write("y", y)
            out.write("split", np.zeros(100, np.int8))
        return path.read_bytes()

    assert write(tmp_path / "a.npz") == write(tmp_path / "b.npz")
    loaded = read_arrays(tmp_path / "a.npz", "npz")
    assert np.array_equal(loaded.x, x) and np.array_equal(loaded.y, y)
    assert loaded.split.dtype == np.int8 and loaded.split.tolist() == [0] * 100
    with np.load(tmp_path / "a.npz") as saved:  # numpy reads it as a plain .npz
        assert np.array_equal(saved["x"], x)


def test_the_writer_refuses_a_different_row_count_than_declared(tmp_path):
    with NpzWriter(tmp_path / "data.npz") as out:
        member = out.stream("x", shape=(4, 2), dtype=np.float32)
        member.append(np.zeros((3, 2)))
        with pytest.raises(ValueError, match="x: 3 rows written, 4 declared"):
            member.close()


def test_write_npz_is_deterministic_and_holds_the_builtin_digits(tmp_path):
    assert formats.builtin_dataset("digits") == formats.builtin_dataset("digits")
    formats.write_builtin("digits", tmp_path / "digits.npz")
    loaded = read_arrays(tmp_path / "digits.npz", "npz")
    assert loaded.x.shape == (1797, 64) and loaded.x.dtype == np.float32
    assert loaded.y.dtype == np.int64
    assert (tmp_path / "digits.npz").read_bytes() == formats.builtin_dataset("digits")


def test_format_follows_the_file_name():
    assert formats.format_for_filename("Data.PARQUET") == "parquet"
    with pytest.raises(DatasetFileError, match="unsupported file type '.txt'"):
        formats.format_for_filename("notes.txt")


# Peak RSS from VmHWM, not getrusage: Linux carries ru_maxrss over exec, so a child of this
# (large) pytest process would report the parent's peak as its own.
DESCRIBE_AND_MEASURE = """
import re, sys
from pathlib import Path
from datasets.formats import describe, open_dataset
with open_dataset(Path(sys.argv[1]), "npz") as reader:
    samples = describe(reader).schema["samples"]
peak_kb = re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]
print(samples, int(peak_kb) // 1024)
"""


def test_it_describes_a_large_file_in_bounded_memory(tmp_path):
    rows, path = 800_000, tmp_path / "large.npz"
    rng = np.random.default_rng(0)
    with NpzWriter(path) as out:
        with out.stream("x", shape=(rows, 64), dtype=np.float32) as member:
            for _ in range(0, rows, 50_000):
                member.append(rng.standard_normal((50_000, 64), dtype=np.float32))
        out.write("y", np.arange(rows) % 10)
    try:
        result = subprocess.run(
            [sys.executable, "-c", DESCRIBE_AND_MEASURE, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        path.unlink()
    samples, peak_mb = map(int, result.stdout.split())
    assert samples == rows and peak_mb < 250  # the file itself is 211 MB


# --- labels, classes and columns: refused before any array is built from them ---------------


def test_the_limits_on_labels_classes_and_columns_have_their_defaults():
    limits = Limits()
    assert (limits.max_label_chars, limits.max_classes, limits.max_table_columns) == (
        256,
        10_000,
        100_000,
    )


def test_it_refuses_npz_labels_wider_than_the_limit_from_the_header(tmp_path, monkeypatch):
    x, _ = blobs(4)
    path = npz(tmp_path, x=x, y=np.array(["a", "b", "a", "b"], dtype="<U300"))
    reads = []
    monkeypatch.setattr("datasets.formats.npz.NpzReader._read_whole", reads.append)
    with pytest.raises(DatasetFileError) as caught:
        open_dataset(path, "npz")
    assert str(caught.value) == (
        "labels are at most 256 characters; y is saved as text 300 characters wide"
    )
    assert reads == []  # refused on the header alone


def test_npz_labels_count_in_the_size_limit(tmp_path):
    x = np.zeros((100, 2), np.float32)  # 800 bytes, under the limit on its own
    y = np.array(["ab"] * 100, dtype="<U4")  # 1,600 bytes more
    message = refusal(npz(tmp_path, x=x, y=y), limits=Limits(max_uncompressed_bytes=1000))
    assert message == "the arrays would take 2.3 KB once unpacked, over the limit of 1000 bytes"


def test_it_refuses_more_npz_classes_than_the_limit(tmp_path):
    x, _ = blobs(12)
    message = refusal(npz(tmp_path, x=x, y=np.arange(12)), limits=Limits(max_classes=10))
    assert message == (
        "the labels hold 12 distinct values, over the limit of 10 classes: "
        "y should hold one class per sample"
    )


def test_it_refuses_a_csv_label_longer_than_the_limit_before_converting_the_labels(
    tmp_path, monkeypatch
):
    lines = [f"{i},c{i % 3}" for i in range(2000)]
    lines[700] = "1," + "y" * 10_000
    path = csv_file(tmp_path, "a,label\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr("datasets.formats.tables._text_to_numpy", pytest.fail)
    assert refusal(path, "csv") == (
        "labels are at most 256 characters; the longest here has 10,000: "
        "is 'label' the right column?"
    )


def test_csv_labels_count_in_the_size_limit(tmp_path):
    # One feature takes 80 bytes; ten labels of 200 characters take 8,000 as NumPy text.
    rows = "".join(f"{i},{'x' * 199}{i % 2}\n" for i in range(10))
    path = csv_file(tmp_path, "a,label\n" + rows)
    message = refusal(path, "csv", limits=Limits(max_uncompressed_bytes=1000))
    assert message == "the arrays would take 7.9 KB once unpacked, over the limit of 1000 bytes"


def test_it_refuses_more_csv_classes_than_the_limit(tmp_path):
    rows = "".join(f"{i},name-{i}\n" for i in range(10_001))
    assert refusal(csv_file(tmp_path, "a,label\n" + rows), "csv") == (
        "the labels hold 10,001 distinct values, over the limit of 10,000 classes: "
        "is 'label' the right column?"
    )


def test_numbers_written_two_ways_are_one_class(tmp_path):
    path = csv_file(tmp_path, "a,label\n1,1\n2,1.0\n3,2\n")
    assert read_arrays(path, "csv", limits=Limits(max_classes=2)).y.tolist() == [1, 1, 2]


def test_it_refuses_a_long_parquet_label_while_it_is_still_a_dictionary(tmp_path, monkeypatch):
    # 25 KB on disk, 800 MB as NumPy text: the dictionary is checked, never expanded.
    path = tmp_path / "data.parquet"
    label = pa.array(["z" * 2000] * 100_000).dictionary_encode()
    pq.write_table(pa.table({"a": np.zeros(100_000), "label": label}), path)
    monkeypatch.setattr("datasets.formats.tables._typed_labels", pytest.fail)
    assert refusal(path, "parquet") == (
        "labels are at most 256 characters; the longest here has 2,000: "
        "is 'label' the right column?"
    )


def test_parquet_text_labels_are_read_as_a_dictionary(tmp_path, monkeypatch):
    path = parquet_file(tmp_path, a=np.arange(6.0), label=["cat", "dog"] * 3)  # plain strings
    seen = []
    monkeypatch.setattr(
        "datasets.formats.tables._check_label_chars",
        lambda arrays, *args: seen.extend(a.type for a in arrays) or 3,
    )
    with open_dataset(path, "parquet") as reader:
        assert reader.labels().tolist() == ["cat", "dog"] * 3
    assert seen and all(pa.types.is_dictionary(kind) for kind in seen)


def test_it_refuses_more_parquet_classes_than_the_limit(tmp_path):
    path = parquet_file(tmp_path, a=np.arange(8.0), label=[f"c{i % 4}" for i in range(8)])
    assert refusal(path, "parquet", limits=Limits(max_classes=3)) == (
        "the labels hold 4 distinct values, over the limit of 3 classes: "
        "is 'label' the right column?"
    )


def test_it_counts_csv_columns_from_the_header_line_before_pyarrow_reads_it(tmp_path, monkeypatch):
    header = ",".join(f"f{j}" for j in range(11)) + ",label\n"
    path = csv_file(tmp_path, header + ",".join(["1"] * 12) + "\n")
    monkeypatch.setattr("datasets.formats.tables._open_csv", pytest.fail)
    message = refusal(path, "csv", limits=Limits(max_table_columns=10))
    assert message == "the file has 12 columns, over the limit of 10"


def test_a_comma_inside_a_quoted_column_name_is_not_a_column(tmp_path):
    path = csv_file(tmp_path, '"a,b","say ""x,y""",label\n1,2,0\n3,4,1\n')
    loaded = read_arrays(path, "csv", limits=Limits(max_table_columns=3))
    assert loaded.x.tolist() == [[1, 2], [3, 4]]


def test_it_refuses_a_csv_first_line_longer_than_it_reads(tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.formats.tables.CSV_HEADER_BYTES", 100)
    path = csv_file(tmp_path, "a" * 150 + ",label\n1,0\n")
    assert refusal(path, "csv") == (
        "the first line is longer than 100 bytes: a CSV file starts with one line of column names"
    )


def test_it_reads_a_csv_with_carriage_return_line_ends(tmp_path):
    path = csv_file(tmp_path, "a,label\r1,0\r2,1\r")
    assert read_arrays(path, "csv", limits=Limits(max_table_columns=2)).y.tolist() == [0, 1]


def test_it_refuses_a_parquet_file_with_too_many_columns(tmp_path):
    columns = {f"f{j}": np.zeros(2) for j in range(11)}
    path = parquet_file(tmp_path, **columns, label=[0, 1])
    message = refusal(path, "parquet", limits=Limits(max_table_columns=10))
    assert message == "the file has 12 columns, over the limit of 10"


def test_a_parquet_footer_far_over_the_column_limit_is_not_parsed_whole(tmp_path):
    columns = {f"f{j}": np.zeros(2) for j in range(60)}
    path = parquet_file(tmp_path, **columns, label=[0, 1])
    message = refusal(path, "parquet", limits=Limits(max_table_columns=10))
    assert message == (
        "not a valid .parquet file: its metadata lists more columns or row groups than can be "
        "read (the limit is 10 columns)"
    )


def test_it_names_repeated_columns_among_many_at_once(tmp_path):
    from datasets.formats.tables import _TableReader

    names = [f"f{j}" for j in range(50_000)] + ["f7", "label", "f3"]
    with pytest.raises(DatasetFileError, match=r"^the file repeats column names: f3, f7$"):
        _TableReader()._set_columns(names, "label")  # Counter: linear, where count() was not


def test_it_stores_the_names_of_the_features_shown_only(tmp_path):
    names = [f"f{j}" for j in range(300)]
    path = csv_file(tmp_path, ",".join([*names, "label"]) + "\n" + ",".join(["1"] * 301) + "\n")
    with open_dataset(path, "csv") as reader:
        schema = describe(reader).schema
    assert schema["feature_names"] == names[:256] and schema["feature_names_omitted"] == 44
    assert schema["feature_shape"] == [300]
