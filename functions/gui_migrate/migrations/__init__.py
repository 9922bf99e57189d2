"""The registered migrations, one module each (`m<number>_<name>.py`), listed in
`gui_migrate.registry`. A migration is frozen once released: it describes the shapes of its time,
not today's code, so it copies what it needs (a key's format) rather than importing it."""
