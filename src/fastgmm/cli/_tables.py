"""Reading and writing the command line's tables: CSV/TSV/whitespace text, .npy and .parquet in, with columns
chosen by name or number and every cell checked; labels and probabilities out."""

import csv
import os
import sys

import numpy as np

from ._args import UserError


# ----------------------------------------------------------------------
# reading data
# ----------------------------------------------------------------------
def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def read_table(path, columns=None):
    """(X float64 of shape (n, d), column names or None) from a .csv, .tsv, .npy or .parquet file.

    ``columns``: a comma-separated list of names (needs a header) or 0-based
    indices; or a list of a model's column names (all columns, in order, when
    the file has no header).
    """
    if not os.path.exists(path):
        raise UserError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory, not a data file")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".csv", ".tsv", ".txt"):
        names, cols = _read_delimited(path, "\t" if ext == ".tsv" else ",")
    elif ext == ".npy":
        names, cols = _read_npy(path)
    elif ext == ".parquet":
        names, cols = _read_parquet(path)
    else:
        raise UserError(f"{path}: unsupported input format {ext or '(no extension)'!r}; "
                        "use .csv, .tsv, .npy or .parquet")
    if isinstance(columns, list):       # a model's own column names: positional without a header
        if names is None:
            columns = None
        else:
            missing = [n for n in columns if n not in names]
            if missing:
                raise UserError(f"{path} lacks the model's column(s) {', '.join(missing)}")
            columns = [names.index(n) for n in columns]
    selected = columns if isinstance(columns, list) else _select_columns(path, names, len(cols), columns)
    arrays = [_numeric_column(path, names, j, cols[j]) for j in selected]
    n_rows = len(arrays[0]) if arrays else 0
    if n_rows == 0:
        raise UserError(f"{path} has no data rows")
    X = np.column_stack(arrays).astype(np.float64, copy=False)
    return X, (None if names is None else [names[j] for j in selected])


def _read_delimited(path, delimiter):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f, delimiter=delimiter) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text file (is it really a .csv?)") from None
    except csv.Error as e:
        raise UserError(f"{path}: malformed CSV ({e})") from None
    if not rows:
        raise UserError(f"{path} is empty")
    first = rows[0]
    # A header is a first row with a non-empty cell that is not a number.
    has_header = any(c.strip() and not _is_number(c) for c in first)
    names = [c.strip() for c in first] if has_header else None
    body = rows[1:] if has_header else rows
    width = len(first)
    for i, r in enumerate(body):
        if len(r) != width:
            raise UserError(f"{path}: row {i + 1 + has_header} has {len(r)} fields, the first has {width}")
    cols = [[r[j] for r in body] for j in range(width)]
    return names, cols


def _read_npy(path):
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise UserError(f"{path} is not a readable .npy array ({e})") from None
    except (OSError, EOFError) as e:
        raise UserError(f"{path} is not a readable .npy array ({e})") from None
    if not isinstance(a, np.ndarray):
        raise UserError(f"{path} is not a single .npy array")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise UserError(f"{path} holds a {a.ndim}-d array; expected 2-d (rows x features)")
    if a.dtype.names is not None:
        return list(a.dtype.names), [a[n] for n in a.dtype.names]
    return None, [a[:, j] for j in range(a.shape[1])]


def _read_parquet(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("reading .parquet files needs pyarrow (pip install pyarrow); "
                        "or convert the file to .csv or .npy") from None
    try:
        table = pq.read_table(path)
    except Exception as e:     # pyarrow's own error classes
        raise UserError(f"{path} is not a readable Parquet file ({e})") from None
    return list(table.column_names), [table.column(j).to_numpy(zero_copy_only=False)
                                      for j in range(table.num_columns)]


def _select_columns(path, names, width, columns):
    if columns is None:
        return list(range(width))
    selected = []
    for item in (c.strip() for c in columns.split(",")):
        if names is not None and item in names:
            selected.append(names.index(item))
            continue
        try:
            j = int(item)
        except ValueError:
            if names is None:
                raise UserError(f"{path} has no header row, so --columns must be 0-based indices, "
                                f"not {item!r}") from None
            raise UserError(f"{path} has no column {item!r}; its columns are {', '.join(names)}") from None
        if not 0 <= j < width:
            raise UserError(f"column index {j} is out of range: {path} has {width} columns (0 to {width - 1})")
        selected.append(j)
    if not selected or len(set(selected)) != len(selected):
        raise UserError(f"--columns {columns!r} must name each column once")
    return selected


def _numeric_column(path, names, j, values):
    label = f"column {names[j]!r}" if names is not None else f"column {j}"
    a = np.asarray(values)
    if a.dtype.kind in "fiub":
        return a.astype(np.float64)
    if a.dtype.kind not in "UO":
        raise UserError(f"{path}: {label} is not numeric (dtype {a.dtype}); choose columns with --columns")
    cells = [("" if v is None else str(v)).strip() for v in values]
    out = np.empty(len(cells))
    for i, c in enumerate(cells):
        if not c:
            out[i] = np.nan            # an empty cell is a missing value
            continue
        try:
            out[i] = float(c)
        except ValueError:
            row = i + (2 if names is not None else 1)
            raise UserError(f"{path}: {label} is not numeric (row {row}: {c!r}); choose numeric columns "
                            "with --columns") from None
    return out


def _write_table(path, header, values, fmt):
    """Write a CSV (stdout when path is None or '-')."""
    f = sys.stdout if path in (None, "-") else open(path, "w", newline="")
    try:
        f.write(",".join(header) + "\n")
        np.savetxt(f, values, fmt=fmt, delimiter=",")
    finally:
        if f is not sys.stdout:
            f.close()


def _write_labels(path, labels):
    _write_table(path, ["label"], np.asarray(labels)[:, None], "%d")


def _write_proba(path, proba):
    _write_table(path, [f"p{k}" for k in range(proba.shape[1])], proba,
                 "%.9g" if proba.dtype == np.float32 else "%.17g")


def save_model(model, names, path):
    """Write a fitted model to ``path``, keeping the input's column names (predict takes columns by them)."""
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model.save(path)
    print(f"model written to {path}")
