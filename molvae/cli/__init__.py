"""Command-line interface: ``molvae <verb>``; each verb is a thin module over the library."""
