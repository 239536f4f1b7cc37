"""NumPy indexing of arrays and symbolic values: reading `x[idx]` (the rules of all indexing).

Indexing is derived: it lowers to the structural primitives and needs no interpreter rules. An
index is first *parsed* against the operand's type into entries, one per operand dimension plus
one per new axis (`None`): a static slice, a static integer, a dynamic (symbolic) scalar integer,
or an advanced (array) index. Boolean masks are accepted only when their value is known, and
become the integer arrays of `np.nonzero`: a symbolic mask would give a result whose shape
depends on data, which no typed program can have. A boolean scalar is NumPy's 0-d mask: the
operand gets a new unit dimension there, indexed by the array `[0]` (True) or `[]` (False).

Basic indices (static integers and slices, `None`, `...`, symbolic scalar integers) lower to
`slice`, `rev` for negative steps, `dynamic_slice` for symbolic integers, and one `squeeze` or
`reshape`. As soon as an array index is present, every integer index joins it (NumPy's rule): the
advanced indices are broadcast together and stacked into the index operand of one `gather`, and a
`transpose` puts the broadcast dimensions where NumPy puts them - in place of the advanced
indices when these are adjacent in the index, first otherwise.

Out-of-range indices: a static Python integer out of range is an error (`IndexOutOfBounds`, which
is also an `IndexError`), as in NumPy. Array and symbolic indices follow JAX: negative values
count from the end, and values still out of range are clamped when reading (`mode='clip'`, the
default of `x[idx]`) or give a fill value (`mode='fill'`, the default of `take`; `fill_value` is
ignored in the other modes), and are dropped when writing (`mode='drop'`, the default of
`x.at[idx].set`). With an explicit mode, static integers follow the mode too. `take` in mode
'clip' clamps into range without counting from the end, as NumPy and JAX do.

`x.at[idx].set(v)` (and `add`, `multiply`, `min`, `max`) is the functional update of the same
positions: `dynamic_update_slice` of a window when the index is a box of static integers and
unit-step slices, `scatter` otherwise.

The parts live in their own modules, gathered here: the parser and the gather/scatter index
operands (and the error types) in `dsl.np_index_parse`, reading (`x[idx]`) in
`dsl.np_index_read`, the functional updates (`x.at[idx]`) in `dsl.np_updates`, and the function
forms (`take`, `take_along_axis`, `put`, `put_along_axis`, `dynamic_slice`, ...) in
`dsl.np_index_functions`.
"""

from __future__ import annotations

from dsl.np_index_functions import (dynamic_index_in_dim, dynamic_slice, dynamic_slice_in_dim,
                                    dynamic_update_slice, put, put_along_axis, take,
                                    take_along_axis)
from dsl.np_index_parse import IndexOutOfBounds, InvalidIndex
from dsl.np_index_read import _getitem
from dsl.np_updates import _AtIndexer

__all__ = ["IndexOutOfBounds", "InvalidIndex", "_AtIndexer", "_getitem", "dynamic_index_in_dim",
           "dynamic_slice", "dynamic_slice_in_dim", "dynamic_update_slice", "put",
           "put_along_axis", "take", "take_along_axis"]
