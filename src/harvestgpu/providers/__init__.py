"""Provider adapters: one package per cloud, all speaking the neutral types in types.py."""
