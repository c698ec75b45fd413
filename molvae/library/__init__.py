"""Library-scale encoding: streaming files, the output writer, Dask."""
