"""The run register: official runs kept in a database, compared, reproduced; payments made.

Developer notes.

- Layer: above `engine.present` (it stores `results_json`, the presentation-level document)
  and below `engine.cli`, which only adds `runs_app` and `payments_app` and the `--record`
  hook of `evaluate` (`engine.register.cli.Recorder`).
- `db.py`: the tables (SQLAlchemy Core), the connection (SQLite by default; on SQLite every
  transaction starts with BEGIN IMMEDIATE and waits up to 30 s for another writer) and the
  schema version. The Alembic migrations live in `migrations/` and run in code
  (`db.migrate`, no alembic.ini). Choice: a missing file or an empty database is created at
  the current schema automatically; a register at an older version is refused at start with
  a French message asking to run `parcours runs migrate` (after a backup); one from a newer
  parcours is refused too.
- `store.py`: one transaction per recording (`runs`, `run_files` with the rules files as
  text and the input hashes, `run_conventions` with the key figures as columns and the
  convention's results.json object as JSON, `run_indicators` with numerators and
  denominators, `run_tables`, `run_rejected`); a label names one current run, `replace`
  marks the old one superseded (a partial unique index guards the label against two
  processes at once). Payments: `payments`, unique per convention and reference.
- `payments.py`: pure functions. `apply_paid` replaces `paid_eur` in the conventions table of
  the Extracts before evaluation (the pipeline is untouched): when the register has payments
  for a convention, its `paid` is their sum up to the as-of date, else the extract's value.
  The schedules come from `payments:` in the rules (`engine.load.rules.load_payments`).
- `compare.py`: `compare_runs` (causes: date, data from input hashes and table counts, rules
  from the stored rules files loaded into temporary folders and compared as values in force
  at each as-of, payments) and `verify_run` (re-run with the stored rules, edits and paid).
"""
